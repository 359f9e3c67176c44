package idempotency

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
)

// A journal file's entry is stored as checksumPrefix, the CRC-32C of the entry's JSON in 8 hex
// digits, a space, and the JSON: a flipped bit, a torn or misdirected write inside one
// record is refused naming the entry, even where the JSON still parses and bbolt's page
// checks pass (bbolt checks its tree, not the bytes of a value). Version 1 journals stored
// the bare JSON; such entries are still read (a JSON entry starts with '{', which no damage to
// a checksummed one can turn it into without also breaking its JSON), and rewritten with a
// checksum the next time they are updated.
const checksumPrefix = "crc32c:"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksumLen is the length of the checksum header: prefix, 8 hex digits, a space.
const checksumLen = len(checksumPrefix) + 8 + 1

// encodeEntry is the stored form of e.
func encodeEntry(e Entry) ([]byte, error) {
	js, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, checksumLen+len(js))
	out = append(out, checksumPrefix...)
	out = fmt.Appendf(out, "%08x ", crc32.Checksum(js, castagnoli))
	return append(out, js...), nil
}

// entryJSON returns the JSON of a stored entry after checking its checksum; a version 1
// entry (bare JSON) is returned as it is.
func entryJSON(k, v []byte) ([]byte, error) {
	if !bytes.HasPrefix(v, []byte(checksumPrefix)) {
		if len(v) > 0 && v[0] == '{' {
			return v, nil // version 1: no checksum
		}
		return nil, fmt.Errorf("entry %q: neither a checksummed record nor JSON (damaged header %q)", clip(k), clip(v[:min(len(v), checksumLen)]))
	}
	if len(v) < checksumLen || v[checksumLen-1] != ' ' {
		return nil, fmt.Errorf("entry %q: damaged checksum header %q", clip(k), clip(v[:min(len(v), checksumLen)]))
	}
	var want [4]byte
	if _, err := hex.Decode(want[:], v[len(checksumPrefix):checksumLen-1]); err != nil {
		return nil, fmt.Errorf("entry %q: damaged checksum header %q", clip(k), clip(v[:checksumLen]))
	}
	js := v[checksumLen:]
	stored := uint32(want[0])<<24 | uint32(want[1])<<16 | uint32(want[2])<<8 | uint32(want[3])
	if got := crc32.Checksum(js, castagnoli); got != stored {
		return nil, fmt.Errorf("entry %q: checksum mismatch (stored %08x, content %08x): the record is damaged", clip(k), stored, got)
	}
	return js, nil
}
