// Package lvm reads LVM2 physical volumes and maps their logical volumes,
// as a layer between pkg/partition and the filesystem engines.
//
// A physical volume (PV) carries a label in one of its first four
// 512-byte sectors (LABELONE, with a CRC) naming its UUID, its data area
// and its metadata areas. Each metadata area starts with an mda_header
// (with its own checksum) whose first raw_locn points at the volume
// group's metadata: text in lvm2's configuration syntax, itself
// checksummed, in a circular buffer. ReadPV reads all of that; Parse is a
// small recursive-descent parser for the text, bounded in size, depth and
// counts; Assemble joins the PVs of one or several disks into volume
// groups, taking the metadata with the highest seqno.
//
// A VG maps its linear (one or more segments, over one or more PVs) and
// striped logical volumes to a Volume, an io.ReaderAt and io.WriterAt over
// the PV devices: a filesystem on an LV is read and written through it,
// inside whatever transaction the devices belong to. Thin, RAID, mirror,
// cache, snapshot and other LVs are named (LV.Kind) but never mapped.
//
// VG.ChangeUUIDs gives the VG and its PVs new UUIDs as vgchange -u and
// pvchange -u do: the metadata is rewritten with seqno+1 into every
// metadata area, with the checksums and label CRCs updated.
//
// The format follows lvm2's lib/format_text (layout.h, format-text.c,
// text_label.c) and lib/label/label.h.
package lvm
