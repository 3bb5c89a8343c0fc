package partition

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// sfdiskTable is what sfdisk --json prints.
type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// sfdiskView turns sfdisk --json output for the disk at path into a Table
// in this package's conventions, independently of Read.
func sfdiskView(tb testing.TB, path string) Table {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "sfdisk", "--json", path)
	if code != 0 {
		tb.Fatalf("sfdisk --json %s: exit %d: %s", path, code, errOut)
	}
	var st sfdiskTable
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		tb.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	pt := st.PartitionTable
	ss := int64(pt.SectorSize)
	t := Table{SectorSize: pt.SectorSize}
	switch pt.Label {
	case "gpt":
		t.Kind, t.DiskUUID = KindGPT, strings.ToLower(pt.ID)
	case "dos":
		t.Kind, t.DiskUUID = KindMBR, strings.TrimPrefix(pt.ID, "0x")
	default:
		tb.Fatalf("sfdisk label %q", pt.Label)
	}
	for _, p := range pt.Partitions {
		num, err := strconv.Atoi(strings.TrimPrefix(p.Node, path))
		if err != nil {
			tb.Fatalf("sfdisk node %q: %v", p.Node, err)
		}
		q := Partition{Number: num, Start: p.Start * ss, Size: p.Size * ss, Name: p.Name}
		if t.Kind == KindGPT {
			q.Type, q.UUID = strings.ToLower(p.Type), strings.ToLower(p.UUID)
		} else {
			ty, err := strconv.ParseUint(p.Type, 16, 8)
			if err != nil {
				tb.Fatalf("sfdisk type %q: %v", p.Type, err)
			}
			q.Type = fmt.Sprintf("%02x", ty)
			q.UUID = fmt.Sprintf("%s-%02x", t.DiskUUID, num)
			q.Extended = isExtended(uint8(ty))
		}
		t.Partitions = append(t.Partitions, q)
	}
	return t
}

func compareWithOracle(tb testing.TB, path string, want Table) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	got, err := Read(f, st.Size())
	if err != nil {
		tb.Fatal(err)
	}
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
		tb.Fatalf("Read disagrees with the oracle:\n   Read %+v\n oracle %+v", *got, want)
	}
}

// sfdiskScript writes a disk of size bytes at a new path with sfdisk and
// the given script.
func sfdiskScript(tb testing.TB, size int64, script string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "disk.raw")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		tb.Fatal(err)
	}
	sfdisk := oracle.Require(tb, "sfdisk")
	cmd := execCommand(sfdisk, "-q", "--no-reread", "--no-tell-kernel", path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("sfdisk: %v\n%s\nscript:\n%s", err, out, script)
	}
	return path
}

func TestReadAgreesWithSfdisk(t *testing.T) {
	for _, name := range []string{"part-gpt.raw", "part-mbr.raw"} {
		t.Run("fixture "+name, func(t *testing.T) {
			path := fixturePath(t, name)
			compareWithOracle(t, path, sfdiskView(t, path))
		})
	}
	// Layouts made at test time: MBRs with long EBR chains and GPTs with
	// many entries, small enough to stay fast.
	for _, n := range []int{1, 2, 7, 20} {
		t.Run(fmt.Sprintf("MBR with %d logical partitions", n), func(t *testing.T) {
			var b strings.Builder
			fmt.Fprintf(&b, "label: dos\nlabel-id: 0x%08x\nunit: sectors\n\n", 0xfeed0000+n)
			b.WriteString("start=2048, size=2048, type=83\n")
			fmt.Fprintf(&b, "start=4096, size=%d, type=f\n", n*4096+2048)
			for i := 0; i < n; i++ {
				fmt.Fprintf(&b, "start=%d, size=%d, type=%s\n", 4096+2048+i*4096, 2048-i%3*512, []string{"83", "82", "8e"}[i%3])
			}
			path := sfdiskScript(t, int64(8192+n*4096)*512, b.String())
			compareWithOracle(t, path, sfdiskView(t, path))
		})
	}
	for _, n := range []int{1, 9, 128} {
		t.Run(fmt.Sprintf("GPT with %d partitions", n), func(t *testing.T) {
			var b strings.Builder
			fmt.Fprintf(&b, "label: gpt\nlabel-id: 01234567-89ab-cdef-0123-%012x\nunit: sectors\n\n", n)
			for i := 0; i < n; i++ {
				fmt.Fprintf(&b, "start=%d, size=8, type=%s, uuid=00000000-0000-4000-8000-%012x, name=\"part %d\"\n",
					2048+i*8, []string{linuxFS, esp, linuxHome}[i%3], i, i+1)
			}
			path := sfdiskScript(t, int64(4096+n*8)*512, b.String())
			compareWithOracle(t, path, sfdiskView(t, path))
		})
	}
}

// fdisk4kView reads a 4096-byte-sector GPT with fdisk -b 4096 -l, which,
// unlike sfdisk, can be told the sector size of an image file.
func fdisk4kView(tb testing.TB, path string) Table {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "fdisk", "-b", "4096", "-l", "-o", "Device,Start,Sectors,Type-UUID,UUID,Name", path)
	if code != 0 {
		tb.Fatalf("fdisk -l %s: exit %d: %s", path, code, errOut)
	}
	t := Table{Kind: KindGPT, SectorSize: 4096}
	inTable := false
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Disk identifier: "); ok {
			t.DiskUUID = strings.ToLower(v)
		}
		if strings.HasPrefix(line, "Device") {
			inTable = true
			continue
		}
		fields := strings.Fields(line)
		if !inTable || len(fields) < 6 {
			continue
		}
		num, err1 := strconv.Atoi(strings.TrimPrefix(fields[0], path))
		start, err2 := strconv.ParseInt(fields[1], 10, 64)
		sectors, err3 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			tb.Fatalf("fdisk line %q", line)
		}
		t.Partitions = append(t.Partitions, Partition{Number: num, Start: start * 4096, Size: sectors * 4096,
			Type: strings.ToLower(fields[3]), UUID: strings.ToLower(fields[4]), Name: strings.Join(fields[5:], " ")})
	}
	return t
}

func TestRead4KSectorGPTAgreesWithFdisk(t *testing.T) {
	path := fixturePath(t, "part-gpt-4k.raw")
	compareWithOracle(t, path, fdisk4kView(t, path))
}

func fixturePath(tb testing.TB, name string) string {
	tb.Helper()
	return fixture.Path(tb, name)
}

var execCommand = exec.Command

// partxView returns the partitions libblkid finds on the 512-byte-sector
// disk at path (partx -P): the PARTUUIDs udev and blkid report.
func partxView(tb testing.TB, path string) []Partition {
	tb.Helper()
	out, errOut, code := oracle.Run(tb, "partx", "-P", "-o", "NR,START,SECTORS,TYPE,UUID,NAME", path)
	if code != 0 {
		tb.Fatalf("partx %s: exit %d: %s", path, code, errOut)
	}
	pair := regexp.MustCompile(`(\w+)="([^"]*)"`)
	var parts []Partition
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		kv := map[string]string{}
		for _, m := range pair.FindAllStringSubmatch(line, -1) {
			kv[m[1]] = m[2]
		}
		num, err1 := strconv.Atoi(kv["NR"])
		start, err2 := strconv.ParseInt(kv["START"], 10, 64)
		sectors, err3 := strconv.ParseInt(kv["SECTORS"], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			tb.Fatalf("partx line %q", line)
		}
		p := Partition{Number: num, Start: start * 512, Size: sectors * 512, Type: kv["TYPE"], UUID: kv["UUID"], Name: kv["NAME"]}
		if hex, ok := strings.CutPrefix(p.Type, "0x"); ok {
			ty, err := strconv.ParseUint(hex, 16, 8)
			if err != nil {
				tb.Fatalf("partx type %q", p.Type)
			}
			p.Type = fmt.Sprintf("%02x", ty)
			p.Extended = isExtended(uint8(ty))
		}
		parts = append(parts, p)
	}
	return parts
}

func TestPartUUIDsAgreeWithLibblkid(t *testing.T) {
	disks := map[string]string{
		"part-gpt.raw": fixturePath(t, "part-gpt.raw"),
		"part-mbr.raw": fixturePath(t, "part-mbr.raw"),
		"MBR with 9 logical partitions": sfdiskScript(t, 48<<20, func() string {
			var b strings.Builder
			b.WriteString("label: dos\nlabel-id: 0x0badcafe\nunit: sectors\n\nstart=2048, size=2048, type=c\nstart=4096, type=85\n")
			for i := 0; i < 9; i++ {
				fmt.Fprintf(&b, "start=%d, size=2048, type=83\n", 6144+i*4096)
			}
			return b.String()
		}()),
	}
	for name, path := range disks {
		t.Run(name, func(t *testing.T) {
			f, size := openPath(t, path)
			got, err := Read(f, size)
			if err != nil {
				t.Fatal(err)
			}
			want := partxView(t, path)
			if fmt.Sprintf("%+v", got.Partitions) != fmt.Sprintf("%+v", want) {
				t.Fatalf("partitions disagree with partx:\n  Read %+v\n partx %+v", got.Partitions, want)
			}
		})
	}
}
