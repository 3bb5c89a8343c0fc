package qcow2

import "container/list"

// l2Cache is a bounded LRU of decoded L2 tables, keyed by host offset.
// Each Image has its own; nothing is shared between images.
type l2Cache struct {
	max   int
	ll    *list.List
	items map[int64]*list.Element
}

type l2CacheItem struct {
	off   int64
	words []uint64
}

// l2CacheBytes bounds the memory of one image's L2 cache.
const l2CacheBytes = 4 << 20

func newL2Cache(clusterSize int64) *l2Cache {
	n := int(l2CacheBytes / clusterSize)
	if n < 2 {
		n = 2
	}
	return &l2Cache{max: n, ll: list.New(), items: map[int64]*list.Element{}}
}

func (c *l2Cache) get(off int64) []uint64 {
	if e, ok := c.items[off]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*l2CacheItem).words
	}
	return nil
}

func (c *l2Cache) put(off int64, words []uint64) {
	if e, ok := c.items[off]; ok {
		e.Value.(*l2CacheItem).words = words
		c.ll.MoveToFront(e)
		return
	}
	c.items[off] = c.ll.PushFront(&l2CacheItem{off, words})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*l2CacheItem).off)
	}
}

func (c *l2Cache) drop(off int64) {
	if e, ok := c.items[off]; ok {
		c.ll.Remove(e)
		delete(c.items, off)
	}
}
