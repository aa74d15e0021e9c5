package rtpdepack

import "github.com/pion/rtp"

// Reorderer puts packets that arrive out of order (UDP) back in sequence
// order. It holds at most Window packets: when a gap is still open and the
// window is full, the missing packets are given up as lost and the
// depacketizer sees the gap.
type Reorderer struct {
	Window  int
	buf     map[uint16]*rtp.Packet
	next    uint16
	started bool
}

// NewReorderer returns a reorderer holding up to window packets.
func NewReorderer(window int) *Reorderer {
	if window < 1 {
		window = 1
	}
	return &Reorderer{Window: window, buf: make(map[uint16]*rtp.Packet)}
}

// Push adds p and returns the packets now deliverable, in order.
func (r *Reorderer) Push(p *rtp.Packet, out []*rtp.Packet) []*rtp.Packet {
	if !r.started {
		r.started = true
		r.next = p.SequenceNumber
	}
	d := int16(p.SequenceNumber - r.next)
	if d < 0 {
		if d < -int16(r.Window)*4 { // far behind: the sender restarted
			r.reset(p.SequenceNumber)
		} else {
			return out // late duplicate or given up: drop
		}
	} else if int(d) > r.Window*4 { // far ahead: a jump, not reordering
		out = r.flush(out)
		r.reset(p.SequenceNumber)
	}
	if _, dup := r.buf[p.SequenceNumber]; dup {
		return out
	}
	r.buf[p.SequenceNumber] = p
	out = r.drain(out)
	for len(r.buf) > r.Window { // give up on the gap
		r.next++
		out = r.drain(out)
	}
	return out
}

func (r *Reorderer) drain(out []*rtp.Packet) []*rtp.Packet {
	for {
		p, ok := r.buf[r.next]
		if !ok {
			return out
		}
		delete(r.buf, r.next)
		out = append(out, p)
		r.next++
	}
}

// flush returns every buffered packet in order, skipping gaps.
func (r *Reorderer) flush(out []*rtp.Packet) []*rtp.Packet {
	for len(r.buf) > 0 {
		out = r.drain(out)
		r.next++
	}
	return out
}

func (r *Reorderer) reset(seq uint16) {
	clear(r.buf)
	r.next = seq
}
