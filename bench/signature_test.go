package bench

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// BenchmarkSignature: one signature of the kind an app's ID token gets,
// with the keys tether's keyring makes (RSA 2048, P-256), in this
// process. It is the floor of BenchmarkAppSignIn's CPU per sign-in that
// no change to tether removes: an app that asks for RS256 pays rs256's
// figure per sign-in (Dex pays it twice: its access tokens are RS256 as
// well).
func BenchmarkSignature(b *testing.B) {
	digest := sha256.Sum256([]byte("header.payload"))
	b.Run("rs256", func(b *testing.B) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("es256", func(b *testing.B) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := ecdsa.SignASN1(rand.Reader, k, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
