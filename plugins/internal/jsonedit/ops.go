package jsonedit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Op is one edit. Build it with Set, Remove or Rename; the zero Op is
// invalid. An Op checks its arguments when it is built, which happens once
// per configuration, and Apply reports what was wrong with it.
type Op struct {
	kind  opKind
	path  []segment // Set, Remove: the target; Rename: the source
	to    []segment // Rename: the destination
	value []byte    // Set: compact JSON
	text  string    // for String
	err   error
}

type opKind uint8

const (
	opInvalid opKind = iota
	opSet
	opRemove
	opRename
)

// Set makes path hold value, replacing what was there (in place) or adding
// a member at the end of its object. Missing objects along the path are
// created; a member along the path that holds something other than an
// object makes Apply fail rather than be overwritten.
func Set(path string, value json.RawMessage) Op {
	op := Op{kind: opSet, text: "set " + path}
	op.path, op.err = splitPath(path)
	if op.err == nil {
		var buf bytes.Buffer
		if err := json.Compact(&buf, value); err != nil {
			op.err = fmt.Errorf("jsonedit: set %s: invalid JSON value: %v", path, err)
		}
		op.value = buf.Bytes()
	}
	return op
}

// Remove deletes the member at path. A path that leads nowhere, through a
// missing member or a non-object, is not an error: there is nothing to
// remove.
func Remove(path string) Op {
	op := Op{kind: opRemove, text: "remove " + path}
	op.path, op.err = splitPath(path)
	return op
}

// Rename moves the value at from to to, possibly into another object, and
// does nothing when from does not exist. Within one object, the member keeps
// its position unless to already exists, in which case to's position is
// kept and from's member disappears. The destination is made as by Set.
func Rename(from, to string) Op {
	op := Op{kind: opRename, text: "rename " + from + " to " + to}
	var err error
	if op.path, err = splitPath(from); err != nil {
		op.err = err
	} else if op.to, err = splitPath(to); err != nil {
		op.err = err
	}
	return op
}

// String describes the op, for logs.
func (op Op) String() string {
	if op.kind == opInvalid {
		return "invalid op"
	}
	return op.text
}

// Err reports what is wrong with the op's arguments, if anything, so that a
// configuration can be rejected before any request is edited.
func (op Op) Err() error {
	if op.kind == opInvalid {
		return fmt.Errorf("jsonedit: invalid op (use Set, Remove or Rename)")
	}
	return op.err
}

// segment is one member name of a path, also quoted as JSON once and for
// all, for when it becomes a new member.
type segment struct {
	name   string
	quoted []byte
}

func splitPath(path string) ([]segment, error) {
	names := strings.Split(path, ".")
	segs := make([]segment, len(names))
	for i, name := range names {
		if name == "" {
			return nil, fmt.Errorf("jsonedit: invalid path %q: empty member name", path)
		}
		segs[i] = segment{name, quote(name)}
	}
	return segs, nil
}

func (op Op) apply(root *object) error {
	switch op.kind {
	case opSet:
		return op.set(root)
	case opRemove:
		op.remove(root)
		return nil
	case opRename:
		return op.rename(root)
	}
	return op.Err()
}

func (op Op) set(root *object) error {
	parent, err := makeParent(root, op.path)
	if err != nil {
		return fmt.Errorf("jsonedit: %s: %w", op.text, err)
	}
	parent.put(last(op.path), op.value, nil)
	return nil
}

func (op Op) remove(root *object) {
	if parent, ok := findParent(root, op.path); ok {
		if k := parent.index(last(op.path).name); k >= 0 {
			parent.members = slices.Delete(parent.members, k, k+1)
		}
	}
}

func (op Op) rename(root *object) error {
	if slices.EqualFunc(op.path, op.to, func(a, b segment) bool { return a.name == b.name }) {
		return nil
	}
	src, ok := findParent(root, op.path)
	if !ok {
		return nil
	}
	k := src.index(last(op.path).name)
	if k < 0 {
		return nil
	}
	m := src.members[k]
	// Detach first, so that moving a member into its own subtree
	// ("a" to "a.b") finds "a" gone and builds a fresh object there.
	src.members = slices.Delete(src.members, k, k+1)
	dst, err := makeParent(root, op.to)
	if err != nil {
		return fmt.Errorf("jsonedit: %s: %w", op.text, err)
	}
	name := last(op.to)
	if dst == src && dst.index(name.name) < 0 {
		m.nameRaw, m.decoded, m.escaped = name.quoted, "", false
		src.members = slices.Insert(src.members, k, m)
		return nil
	}
	dst.put(name, m.raw, m.obj)
	return nil
}

func last(path []segment) segment { return path[len(path)-1] }

// findParent returns the object that holds the last member of path, if
// every member before it exists and is an object.
func findParent(root *object, path []segment) (*object, bool) {
	o := root
	for _, seg := range path[:len(path)-1] {
		var ok bool
		if o, ok = o.child(seg.name); !ok {
			return nil, false
		}
	}
	return o, true
}

// makeParent is findParent creating missing objects on the way.
func makeParent(root *object, path []segment) (*object, error) {
	o := root
	for i, seg := range path[:len(path)-1] {
		if o.index(seg.name) < 0 {
			o.put(seg, nil, &object{})
		}
		next, ok := o.child(seg.name)
		if !ok {
			return nil, fmt.Errorf("%s is not an object", joinPath(path[:i+1]))
		}
		o = next
	}
	return o, nil
}

func joinPath(path []segment) string {
	names := make([]string, len(path))
	for i, seg := range path {
		names[i] = seg.name
	}
	return strings.Join(names, ".")
}
