package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestParseHostile(t *testing.T) {
	cases := []struct {
		name, text string
		want       error
	}{
		{"deep", strings.Repeat("a {\n", 100) + strings.Repeat("}\n", 100), ErrLimit},
		{"nested list", "a = [1, [2]]", ErrSyntax},
		{"open string", `a = "abc`, ErrSyntax},
		{"open section", "a {\nb = 1\n", ErrSyntax},
		{"stray brace", "}", ErrSyntax},
		{"duplicate", "a = 1\na = 2\n", ErrSyntax},
		{"long list", "a = [" + strings.Repeat("1,", MaxListLen) + "1]", ErrLimit},
		{"long string", `a = "` + strings.Repeat("x", MaxStringLen+1) + `"`, ErrLimit},
		{"overflow", "a = 99999999999999999999", ErrSyntax},
		{"no value", "a =", ErrSyntax},
		{"bad key", "= 1", ErrSyntax},
		{"too many nodes", strings.Repeat("s { a = 1 }\n", 1) + "l = [" + strings.Repeat("1,", 60000) + "1]\nm = [" + strings.Repeat("1,", 60000) + "1]\nn = [" + strings.Repeat("1,", 60000) + "1]\no = [" + strings.Repeat("1,", 60000) + "1]", ErrLimit},
	}
	for _, c := range cases {
		if _, err := Parse([]byte(c.text)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	root, err := Parse([]byte("# c\nvg {\n a = \"x\\\"y\" # c\n l = [ \"s\", 1, -2, 1.5 ]\n}\n\x00"))
	if err != nil {
		t.Fatal(err)
	}
	vg := root.Child("vg")
	if vg.Child("a").Str != `x"y` || len(vg.Child("l").List) != 4 || vg.Child("l").List[2].Int != -2 || vg.Child("l").List[3].Kind != KindFloat {
		t.Errorf("parsed %+v", vg)
	}
}

// ubuntuText returns the ubuntu fixture's metadata text.
func ubuntuText(t *testing.T) string {
	t.Helper()
	vg := assemble(t, openPVs(t, "lvm-ubuntu.raw"))[0]
	return string(bytes.TrimRight(vg.text, "\x00"))
}

func TestDecodeVGHostile(t *testing.T) {
	base := ubuntuText(t)
	seg := "segment1 {\nstart_extent = 0\nextent_count = 32\n"
	if !strings.Contains(base, seg) {
		t.Fatalf("the fixture's text changed shape:\n%s", base)
	}
	second := "\t\tother {\n\t\t\tid = \"Other0-0000-4000-8000-0000-0000-000001\"\n\t\t\tstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n\t\t\tsegment_count = 1\n\t\t\tsegment1 {\n%s\n\t\t\t}\n\t\t}\n"
	withLV := func(body string) string {
		i := strings.Index(base, "logical_volumes {\n") + len("logical_volumes {\n")
		return base[:i] + strings.ReplaceAll(second, "%s", body) + base[i:]
	}
	cases := []struct {
		name, text string
		want       error
	}{
		{"huge extent", strings.Replace(base, "extent_size = 2048", "extent_size = 1099511627776", 1), ErrBadMetadata},
		{"huge pe_count", strings.Replace(base, "pe_count = 39", "pe_count = 4611686018427387904", 1), ErrBadMetadata},
		{"gap", strings.Replace(base, seg, "segment1 {\nstart_extent = 1\nextent_count = 32\n", 1), ErrBadMetadata},
		{"past the PV", strings.Replace(base, "extent_count = 32", "extent_count = 4000", 1), ErrBadMetadata},
		{"huge segment_count", strings.Replace(base, "segment_count = 1", "segment_count = 100000000", 1), ErrBadMetadata},
		{"missing segment", strings.Replace(base, "segment_count = 1", "segment_count = 2", 1), ErrBadMetadata},
		{"unknown PV", strings.Replace(base, `"pv0", 0`, `"pv9", 0`, 1), ErrBadMetadata},
		{"overlap", withLV("start_extent = 0\nextent_count = 2\ntype = \"striped\"\nstripe_count = 1\nstripes = [\"pv0\", 31]"), ErrBadMetadata},
		{"bad id", strings.Replace(base, "id = \"Ubuvg0", "id = \"Ub\x01vg0", 1), ErrBadMetadata},
		{"stripes mismatch", withLV("start_extent = 0\nextent_count = 2\ntype = \"striped\"\nstripe_count = 2\nstripe_size = 128\nstripes = [\"pv0\", 33]"), ErrBadMetadata},
		{"odd stripe size", withLV("start_extent = 0\nextent_count = 2\ntype = \"striped\"\nstripe_count = 2\nstripe_size = 100\nstripes = [\"pv0\", 33, \"pv0\", 35]"), ErrBadMetadata},
		{"two VGs", base + "\nvg2 {\n}\n", ErrBadMetadata},
	}
	for _, c := range cases {
		root, err := Parse([]byte(c.text))
		if err == nil {
			_, err = DecodeVG(root, []byte(c.text))
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A snapshot that is its own origin and COW store: named, not mapped,
	// and no loop.
	loop := withLV("start_extent = 0\nextent_count = 2\ntype = \"snapshot\"\norigin = \"other\"\ncow_store = \"other\"\nchunk_size = 8")
	root, err := Parse([]byte(loop))
	if err != nil {
		t.Fatal(err)
	}
	vg, err := DecodeVG(root, []byte(loop))
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := vg.LV("other").Writable(); ok || why == "" {
		t.Errorf("self-snapshot writable %v (%s)", ok, why)
	}
}

func TestLabelHostile(t *testing.T) {
	fps := openPVs(t, "lvm-ubuntu.raw")
	good := make([]byte, 4*SectorSize)
	if _, err := fps[0].pv.Dev.ReadAt(good, 0); err != nil {
		t.Fatal(err)
	}
	fix := func(b []byte) []byte { // recompute the CRC of sector 1
		binary.LittleEndian.PutUint32(b[512+16:], crc(InitialCRC, b[512+20:1024]))
		return b
	}
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	size := int64(len(good))
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"crc", mod(func(b []byte) { b[512+40] ^= 1 }), ErrChecksum},
		{"sector", fix(mod(func(b []byte) { b[512+8] = 3 })), ErrBadLabel},
		{"offset", fix(mod(func(b []byte) { binary.LittleEndian.PutUint32(b[512+20:], 500) })), ErrBadLabel},
		{"type", fix(mod(func(b []byte) { copy(b[512+24:], "LVM9 001") })), ErrBadLabel},
		{"no end of list", fix(mod(func(b []byte) {
			for i := 512 + 72; i+16 <= 1024; i += 16 {
				binary.LittleEndian.PutUint64(b[i:], 4096)
				binary.LittleEndian.PutUint64(b[i+8:], 512)
			}
		})), ErrBadLabel},
		{"area past the device", fix(mod(func(b []byte) { binary.LittleEndian.PutUint64(b[512+72+8:], 1<<40) })), ErrBadLabel},
		{"none", make([]byte, 2048), ErrNoLabel},
	}
	for _, c := range cases {
		if _, err := ReadLabel(bytes.NewReader(c.data), size); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestMDAHostile(t *testing.T) {
	pv := openPVs(t, "lvm-ubuntu.raw")[0].pv
	m := pv.MDAs[0]
	dev := make([]byte, int64(m.Area.Offset+m.Area.Size))
	if _, err := pv.Dev.ReadAt(dev, 0); err != nil {
		t.Fatal(err)
	}
	at := int(m.Area.Offset)
	fix := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[at:], crc(InitialCRC, b[at+4:at+MDAHeaderSize]))
		return b
	}
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(dev)
		f(b)
		return b
	}
	locn := at + 40
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"header checksum", mod(func(b []byte) { b[at+30] ^= 1 }), ErrChecksum},
		{"magic", fix(mod(func(b []byte) { b[at+5] = 'X' })), ErrBadMDA},
		{"start", fix(mod(func(b []byte) { binary.LittleEndian.PutUint64(b[at+24:], 8192) })), ErrBadMDA},
		{"huge text", fix(mod(func(b []byte) { binary.LittleEndian.PutUint64(b[locn+8:], 1<<40) })), ErrLimit},
		{"text offset", fix(mod(func(b []byte) { binary.LittleEndian.PutUint64(b[locn:], 1<<40) })), ErrBadMDA},
		{"text checksum", mod(func(b []byte) { b[at+int(m.Locn.Offset)+10] ^= 1 }), ErrChecksum},
	}
	for _, c := range cases {
		if _, err := ReadMDA(bytes.NewReader(c.data), int64(len(c.data)), m.Area); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
