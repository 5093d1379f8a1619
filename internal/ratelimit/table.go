package ratelimit

import "time"

// table is a map of per-key state that holds at most max keys. Its keys
// are kept in the order they were last used, so that both ways of
// forgetting are cheap: sweep drops idle keys from the least recently
// used end, and a new key past the bound evicts the least recently used
// one. Without the bound, a flood of distinct addresses or emails would
// grow the map by one entry per request.
//
// A table is not safe for concurrent use; its owner holds a lock.
type table[V any] struct {
	max   int
	items map[string]*entry[V]
	// head is the most recently used entry, tail the least.
	head, tail *entry[V]
}

type entry[V any] struct {
	key        string
	seen       time.Time
	prev, next *entry[V]
	v          V
}

func newTable[V any](max int) *table[V] {
	return &table[V]{max: max, items: map[string]*entry[V]{}}
}

// get returns the entry of key, or nil, without marking it used.
func (t *table[V]) get(key string) *entry[V] { return t.items[key] }

// touch returns the entry of key, created with a zero value when there is
// none (evicting the least recently used entry if the table is full), and
// marks it used at now.
func (t *table[V]) touch(key string, now time.Time) *entry[V] {
	e, ok := t.items[key]
	if ok {
		t.unlink(e)
	} else {
		if len(t.items) >= t.max && t.tail != nil {
			t.remove(t.tail)
		}
		e = &entry[V]{key: key}
		t.items[key] = e
	}
	e.seen = now
	t.pushFront(e)
	return e
}

// sweep forgets the entries not used for longer than idle. They sit at
// the tail, so the cost is one comparison plus one per entry dropped.
func (t *table[V]) sweep(now time.Time, idle time.Duration) {
	for t.tail != nil && now.Sub(t.tail.seen) > idle {
		t.remove(t.tail)
	}
}

func (t *table[V]) remove(e *entry[V]) {
	t.unlink(e)
	delete(t.items, e.key)
}

func (t *table[V]) len() int { return len(t.items) }

func (t *table[V]) pushFront(e *entry[V]) {
	e.prev, e.next = nil, t.head
	if t.head != nil {
		t.head.prev = e
	}
	t.head = e
	if t.tail == nil {
		t.tail = e
	}
}

func (t *table[V]) unlink(e *entry[V]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if t.head == e {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if t.tail == e {
		t.tail = e.prev
	}
	e.prev, e.next = nil, nil
}
