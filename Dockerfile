# imgprep in an image of its own: the static binary and nothing else.
# imgprep needs no KVM, no /dev, no privileges and no libc, so FROM scratch
# fits a Kubernetes Job where libguestfs' appliance cannot run.
#
#   make build && docker build -t imgprep .
#   docker run --rm --user "$(id -u):$(id -g)" -v /images:/images imgprep sysprep /images/t.qcow2
FROM scratch
COPY bin/imgprep /imgprep
USER 65532:65532
ENTRYPOINT ["/imgprep"]
