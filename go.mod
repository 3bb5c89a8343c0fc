module github.com/imgprep/imgprep

go 1.26.8

require (
	github.com/diskfs/go-diskfs v1.9.4
	github.com/google/uuid v1.6.0
	github.com/klauspost/compress v1.20.3
	github.com/lima-vm/go-qcow2reader v0.7.1
	github.com/urfave/cli/v3 v3.14.0
	go.yaml.in/yaml/v3 v3.0.5
	golang.org/x/sys v0.49.0
)
