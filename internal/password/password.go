// Package password hashes and checks passwords with argon2id, stored as PHC
// strings ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash") so parameters can be
// raised later without breaking existing hashes.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen int
	KeyLen  uint32
}

// Default follows the OWASP recommendation for argon2id (19 MiB, two
// passes, one lane): strong enough for online attacks and cheap enough that
// a small server can take bursts of sign-ins.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrMalformed is returned for a stored hash that cannot be parsed.
var ErrMalformed = errors.New("password: malformed hash")

// slots bounds how many hashes run at once. Each takes Params.Memory, so
// without a bound a burst of sign-ins could take the process's memory.
var slots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))

// Hash returns the PHC string for password under p.
func (p Params) Hash(password string) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := p.key(password, salt)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

func (p Params) key(password string, salt []byte) []byte {
	slots <- struct{}{}
	defer func() { <-slots }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// Check reports whether password matches hash, in time independent of
// where the two differ.
func Check(hash, password string) (bool, error) {
	p, salt, want, err := parse(hash)
	if err != nil {
		return false, err
	}
	p.KeyLen = uint32(len(want))
	got := p.key(password, salt)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether hash was made with weaker parameters than p.
func (p Params) NeedsRehash(hash string) bool {
	q, _, _, err := parse(hash)
	return err != nil || q.Memory < p.Memory || q.Time < p.Time || q.Threads < p.Threads
}

// dummies holds, per Params, a hash checked against when there is no
// account (or no password), so that a wrong email costs as much time as
// a wrong password made with the same cost.
var dummies sync.Map // Params → string

// CheckDummy spends the time of one Check of a hash made with p, and so
// answers nothing. The hash is made on first use: making it at start-up
// would spend the memory of one argon2id hash (19 MiB by default) before
// anyone signed in, and set the process's peak RSS.
func (p Params) CheckDummy(password string) {
	h, ok := dummies.Load(p)
	if !ok {
		hash, err := p.Hash("tether-dummy-password")
		if err != nil {
			return
		}
		h, _ = dummies.LoadOrStore(p, hash)
	}
	_, _ = Check(h.(string), password)
}

func parse(hash string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, ErrMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 4*1024*1024 || p.Time > 100 {
		return p, nil, nil, ErrMalformed
	}
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformed
	}
	if key, err = enc.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
