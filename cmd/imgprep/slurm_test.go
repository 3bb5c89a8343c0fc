package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/shard"
)

// slurmCluster is a single-node Slurm cluster of this host, with its own
// munged, slurmctld and slurmd, state in a temporary directory.
type slurmCluster struct {
	dir, conf string
	bins      map[string]string
	env       []string // for the client commands: SLURM_CONF
}

// freePorts returns n TCP ports free at the time of asking.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// memoryMiB is MemTotal of /proc/meminfo in MiB.
func memoryMiB(t *testing.T) int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// startSlurm starts the cluster; its daemons are stopped, by PID, at the
// test's cleanup. Without the tools or root the test is skipped, or fails
// when CI=true; so does a daemon that does not start.
func startSlurm(t *testing.T) *slurmCluster {
	t.Helper()
	s := &slurmCluster{bins: map[string]string{}}
	for _, tool := range []string{"munged", "slurmctld", "slurmd", "sbatch", "sinfo"} {
		s.bins[tool] = oracle.Require(t, tool)
	}
	if os.Geteuid() != 0 {
		oracle.Unavailable(t, "the Slurm test runs slurmd as root: not root")
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	s.dir = t.TempDir()
	if err := os.Chmod(s.dir, 0o755); err != nil { // munged wants its socket's directory reachable
		t.Fatal(err)
	}
	for _, d := range []string{"munge", "state", "spool"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 1024)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(s.dir, "munge", "munge.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(s.dir, "munge")
	s.daemon(t, filepath.Join(m, "munged.pid"), filepath.Join(m, "munged.log"), s.bins["munged"], "--force",
		"--socket="+filepath.Join(m, "munge.socket"), "--key-file="+filepath.Join(m, "munge.key"),
		"--log-file="+filepath.Join(m, "munged.log"), "--pid-file="+filepath.Join(m, "munged.pid"),
		"--seed-file="+filepath.Join(m, "munged.seed"))

	ports := freePorts(t, 2)
	if err := os.WriteFile(filepath.Join(s.dir, "plugstack.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`ClusterName=imgprep
SlurmctldHost=%[1]s
SlurmUser=root
SlurmdUser=root
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[4]s/munge/munge.socket
StateSaveLocation=%[4]s/state
SlurmdSpoolDir=%[4]s/spool
SlurmctldPidFile=%[4]s/slurmctld.pid
SlurmdPidFile=%[4]s/slurmd.pid
SlurmctldLogFile=%[4]s/slurmctld.log
SlurmdLogFile=%[4]s/slurmd.log
PlugStackConfig=%[4]s/plugstack.conf
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
NodeName=%[1]s CPUs=%[5]d RealMemory=%[6]d State=UNKNOWN
PartitionName=imgprep Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, host, ports[0], ports[1], s.dir, runtime.NumCPU(), max(256, memoryMiB(t)-256))
	s.conf = filepath.Join(s.dir, "slurm.conf")
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(), "SLURM_CONF="+s.conf)
	s.daemon(t, filepath.Join(s.dir, "slurmctld.pid"), filepath.Join(s.dir, "slurmctld.log"), s.bins["slurmctld"], "-f", s.conf, "-i")
	s.daemon(t, filepath.Join(s.dir, "slurmd.pid"), filepath.Join(s.dir, "slurmd.log"), s.bins["slurmd"], "-f", s.conf)
	// The node is up when sinfo shows it idle.
	var out []byte
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		cmd := exec.Command(s.bins["sinfo"], "-h", "-N", "-o", "%t")
		cmd.Env = s.env
		out, _ = cmd.CombinedOutput()
		if strings.TrimSpace(string(out)) == "idle" {
			return s
		}
	}
	oracle.Unavailable(t, fmt.Sprintf("the Slurm node did not come up: sinfo says %q\n%s", out, s.logs()))
	return nil
}

// daemon starts a forking daemon that writes its PID to pidFile, and
// stops it at cleanup: SIGTERM to that PID, SIGKILL after 10 s.
func (s *slurmCluster) daemon(t *testing.T, pidFile, log, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		oracle.Unavailable(t, fmt.Sprintf("%s did not start: %v\n%s\n%s", filepath.Base(bin), err, out, tail(log)))
	}
	var pid int
	for deadline := time.Now().Add(15 * time.Second); pid == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if pid <= 1 {
		oracle.Unavailable(t, fmt.Sprintf("%s wrote no PID to %s\n%s", filepath.Base(bin), pidFile, tail(log)))
	}
	t.Logf("%s: pid %d", filepath.Base(bin), pid)
	t.Cleanup(func() { stopPID(t, pid, filepath.Base(bin)) })
}

// stopPID ends the daemon pid and waits until it is gone.
func stopPID(t *testing.T, pid int, name string) {
	sig := syscall.SIGTERM
	for i := 0; i < 200; i++ {
		if i == 100 {
			sig = syscall.SIGKILL
		}
		if err := syscall.Kill(pid, sig); err != nil {
			return // gone
		}
		time.Sleep(100 * time.Millisecond)
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return
		}
	}
	t.Errorf("%s (pid %d) did not stop", name, pid)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func (s *slurmCluster) logs() string {
	return "slurmctld.log:\n" + tail(filepath.Join(s.dir, "slurmctld.log")) + "\nslurmd.log:\n" + tail(filepath.Join(s.dir, "slurmd.log"))
}

// A real Slurm array job, docs/slurm/imgprep-array.sbatch: four tasks of
// imgprep sysprep --shard auto over nine images; the merged report counts
// each image once, all prepared.
func TestSlurmArrayJobPreparesEveryImageOnce(t *testing.T) {
	s := startSlurm(t)
	bin := buildImgprep(t)
	images := copies(t, "disk-gpt.qcow2", 9)
	work := t.TempDir()
	list := writeFile(t, work, "images.txt", strings.Join(images, "\n")+"\n")
	script := filepath.Join(fixture.Root(t), "docs", "slurm", "imgprep-array.sbatch")
	reportDir := filepath.Join(work, "reports")
	// The command line's options override the script's #SBATCH ones.
	cmd := exec.Command(s.bins["sbatch"], "--array=0-3", "--wait", "--cpus-per-task=1", "--mem=128",
		"--output="+work+"/slurm-%A_%a.out", script)
	cmd.Env = append(s.env, "IMGPREP="+bin, "IMGPREP_LIST="+list, "IMGPREP_REPORTS="+reportDir)
	cmd.Dir = work
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs, _ := filepath.Glob(work + "/slurm-*.out")
		var tails []string
		for _, l := range logs {
			tails = append(tails, l+":\n"+tail(l))
		}
		t.Fatalf("sbatch: %v\n%s\n%s\n%s", err, out, strings.Join(tails, "\n"), s.logs())
	}
	t.Logf("sbatch --array=0-3 --wait: %s (%v)", strings.TrimSpace(string(out)), time.Since(start).Round(time.Millisecond))
	reports, _ := filepath.Glob(reportDir + "/sysprep-*-of-4.jsonl")
	if len(reports) != 4 {
		t.Fatalf("%d shard reports, want 4: %v", len(reports), reports)
	}
	r := runEnv(t, nil, "", "report", "merge", "--json", reportDir)
	var m shard.Merged
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || r.code != 0 {
		t.Fatalf("merge: %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if m.Images != 9 || m.Done != 9 || m.Failed != 0 || len(m.Repeated) != 0 || m.Count != 4 || len(m.Shards) != 4 || len(m.Missing) != 0 {
		t.Fatalf("merged: %s", r.stdout)
	}
	for _, img := range images {
		preparedByOracles(t, img)
	}
}
