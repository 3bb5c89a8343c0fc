package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sort"

	"github.com/imgprep/imgprep/pkg/sysprep"
)

// DefaultDigestKey keys the identity digests when the caller gives no key
// of its own: the digests then hide nothing a guess could not confirm (a
// host name), but still carry no value in the clear.
var DefaultDigestKey = []byte("imgprep audit identity digest v1")

// Identity is one identity an image holds, as a keyed digest. The shards
// of an audit each write the identities they saw, and a merge finds the
// identities shared across shards, without any value leaving a shard.
type Identity struct {
	Kind   Kind   `json:"kind"`
	Digest string `json:"digest"` // hex HMAC-SHA256 of kind, NUL, value
	Image  string `json:"image"`
	Where  string `json:"where"`
}

// Digest is the keyed digest of one identity value; nil key means
// DefaultDigestKey. Every shard of one audit must use the same key.
func Digest(key []byte, k Kind, value string) string {
	if key == nil {
		key = DefaultDigestKey
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(k))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// Digests returns every identity the inspections hold, digested with key,
// sorted by image, kind and place.
func Digests(ins []*sysprep.Inspection, key []byte) []Identity {
	out := []Identity{}
	each(ins, func(k Kind, value, image, where string) {
		out = append(out, Identity{Kind: k, Digest: Digest(key, k, value), Image: image, Where: where})
	})
	sort.SliceStable(out, func(a, b int) bool {
		x, y := out[a], out[b]
		if x.Image != y.Image {
			return x.Image < y.Image
		}
		if x.Kind != y.Kind {
			return kindOrder(x.Kind) < kindOrder(y.Kind)
		}
		return x.Where < y.Where
	})
	return out
}

// MergeIdentities groups the digested identities of several shards as
// Analyze groups values: a Group's Value is the digest. Inspected counts
// the distinct images.
func MergeIdentities(ids []Identity, fsUUIDWarning bool) *Report {
	holders := map[key][]Holder{}
	images := map[string]bool{}
	for _, id := range ids {
		images[id.Image] = true
		kk := key{id.Kind, id.Digest}
		holders[kk] = append(holders[kk], Holder{Image: id.Image, Where: id.Where})
	}
	rep := group(holders, fsUUIDWarning)
	rep.Inspected = len(images)
	return rep
}

// RunDigests is Run that also records, in the report's Identities, every
// identity each image holds, digested with key: what a shard of an audit
// writes for MergeIdentities.
func RunDigests(ctx context.Context, images []string, opts Options, key []byte) *Report {
	var ins []*sysprep.Inspection
	rep := run(ctx, images, opts, &ins)
	rep.Identities = Digests(ins, key)
	return rep
}
