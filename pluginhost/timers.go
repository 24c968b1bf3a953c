package pluginhost

import (
	"sync"
	"time"
)

// hSetTick starts (or with 0 stops) the VM's timer: proxy_on_tick is
// called on the root context every period, under the VM's lock like any
// callback, for as long as the VM lives.
func hSetTick(vm *VM, s []uint64) uint32 {
	period := time.Duration(uint32(s[0])) * time.Millisecond
	if vm.tickStop != nil {
		close(vm.tickStop)
		vm.tickStop = nil
	}
	if period <= 0 {
		return stOK
	}
	if vm.callbacks[phTick] == nil {
		return stOK
	}
	stop := make(chan struct{})
	vm.tickStop = stop
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		root := &Stream{vm: vm, id: vm.rootID, root: true}
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if vm.broken.Load() {
				return
			}
			root.callouts = 0 // each tick's calls are bounded anew
			if _, err := vm.call(root, phTick, uint64(vm.rootID)); err != nil {
				root.dropCalls()
				return
			}
			root.runRootCallouts()
		}
	}()
	return stOK
}

// ---- shared queues: named per plugin, readable by every VM.

type queue struct {
	owner *Plugin
	items [][]byte
	bytes int // of items, together
	// notices are proxy_on_queue_ready calls owed to the owner, one per
	// item enqueued (SDK examples dequeue one item per call); notifying
	// says a goroutine is delivering them.
	notices   int
	notifying bool
}

// A queue's items are copies on the host's heap, outside any VM's memory
// limit, and nothing makes their owner read them: past these bounds an
// item is refused and dropped (InternalFailure: the ABI has no status
// for a full queue). A queue carries messages a timer or the owner's
// proxy_on_queue_ready drains (log lines, metric batches), not bulk
// data: 1024 items leave room for a burst of per-request messages
// between two drains, and 1 MiB for a kilobyte each.
const (
	maxQueueItems = 1024
	maxQueueBytes = 1 << 20
)

// maxQueuesPerPlugin bounds the queues a plugin may register: every
// queue may hold maxQueueBytes, and a registered queue lives as long as
// the process. Plugins register one or two, at start.
const maxQueuesPerPlugin = 64

var (
	queuesMu sync.Mutex
	queueIDs = map[string]uint32{} // "plugin\x00name" -> id
	queues   []*queue
	// queuesOf counts the queues registered by each plugin name.
	queuesOf = map[string]int{}
)

func hRegisterQueue(vm *VM, s []uint64) uint32 {
	name, ok := vm.read(s[0], s[1])
	if !ok {
		return stInvalidMemory
	}
	key := vm.p.opts.Name + "\x00" + string(name)
	queuesMu.Lock()
	id, seen := queueIDs[key]
	if !seen && queuesOf[vm.p.opts.Name] >= maxQueuesPerPlugin {
		queuesMu.Unlock()
		return stInternal
	}
	if !seen {
		queuesOf[vm.p.opts.Name]++
		id = uint32(len(queues))
		queues = append(queues, &queue{owner: vm.p})
		queueIDs[key] = id
	} else {
		queues[id].owner = vm.p // a new version of the plugin takes its queue over
	}
	queuesMu.Unlock()
	if !vm.putU32(s[2], id) {
		return stInvalidMemory
	}
	return stOK
}

func hResolveQueue(vm *VM, s []uint64) uint32 {
	vmID, ok := vm.read(s[0], s[1])
	if !ok {
		return stInvalidMemory
	}
	name, ok := vm.read(s[2], s[3])
	if !ok {
		return stInvalidMemory
	}
	// The "vm id" names the plugin that registered the queue; empty means
	// this plugin.
	owner := string(vmID)
	if owner == "" {
		owner = vm.p.opts.Name
	}
	queuesMu.Lock()
	id, seen := queueIDs[owner+"\x00"+string(name)]
	queuesMu.Unlock()
	if !seen {
		return stNotFound
	}
	if !vm.putU32(s[4], id) {
		return stInvalidMemory
	}
	return stOK
}

func hEnqueue(vm *VM, s []uint64) uint32 {
	data, ok := vm.read(s[1], s[2])
	if !ok {
		return stInvalidMemory
	}
	queuesMu.Lock()
	if s[0] >= uint64(len(queues)) {
		queuesMu.Unlock()
		return stNotFound
	}
	q := queues[s[0]]
	if len(q.items) >= maxQueueItems || q.bytes+len(data) > maxQueueBytes {
		queuesMu.Unlock()
		return stInternal
	}
	q.items = append(q.items, append([]byte(nil), data...))
	q.bytes += len(data)
	if q.notices < maxQueueItems { // more would be for items gone already
		q.notices++
	}
	start := !q.notifying
	q.notifying = true
	queuesMu.Unlock()
	// The owner hears of it on one of its VMs, after this callback: never
	// re-entering the calling VM. One goroutine per queue delivers the
	// notices, not one per item: a loop of enqueues would otherwise start
	// goroutines without bound, each waiting for the owner's VM.
	if start {
		go notify(q, uint32(s[0]))
	}
	return stOK
}

// notify delivers q's notices until none is owed.
func notify(q *queue, id uint32) {
	queuesMu.Lock()
	for q.notices > 0 {
		q.notices--
		owner := q.owner // a new version of the plugin may have taken it over
		queuesMu.Unlock()
		owner.queueReady(id)
		queuesMu.Lock()
	}
	q.notifying = false
	queuesMu.Unlock()
}

func (p *Plugin) queueReady(id uint32) {
	vm := p.pick()
	if vm == nil {
		return
	}
	if vm.callbacks[phQueueReady] == nil {
		return
	}
	root := &Stream{vm: vm, id: vm.rootID, root: true}
	if _, err := vm.call(root, phQueueReady, uint64(vm.rootID), uint64(id)); err != nil {
		root.dropCalls()
		return
	}
	root.runRootCallouts()
}

func hDequeue(vm *VM, s []uint64) uint32 {
	queuesMu.Lock()
	if s[0] >= uint64(len(queues)) {
		queuesMu.Unlock()
		return stNotFound
	}
	q := queues[s[0]]
	if len(q.items) == 0 {
		queuesMu.Unlock()
		return stEmpty
	}
	item := q.items[0]
	q.items[0] = nil // the array outlives the item
	q.items = q.items[1:]
	q.bytes -= len(item)
	queuesMu.Unlock()
	return vm.give(item, s[1], s[2])
}
