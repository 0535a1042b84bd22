package testenv

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha3"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// OnionDescriptorPlaintext decrypts a v3 onion service descriptor as tor's
// GETINFO hs/service/desc/id/<id> (or an HSDir) returns it, for the service
// of onionAddr, and returns its inner plaintext: the lines a client reads
// after decrypting both layers (create2-formats, pow-params,
// introduction-point, ...). It follows rend-spec-v3, "Encryption of the
// descriptor": the blinded key comes from the descriptor-signing-key-cert,
// the subcredential from the address's identity key and the blinded key, and
// each layer is SALT | AES-256-CTR ciphertext | MAC with keys from
// SHAKE-256(blinded key | subcredential | INT_8(revision-counter) | SALT |
// layer constant). Descriptors with client authorization are not supported
// (the inner layer would need the descriptor cookie). The MACs are checked,
// so a wrong key or a damaged descriptor is an error, not garbage.
func OnionDescriptorPlaintext(desc, onionAddr string) (string, error) {
	id := strings.TrimSuffix(strings.ToLower(onionAddr), ".onion")
	raw, err := base32.StdEncoding.DecodeString(strings.ToUpper(id))
	if err != nil || len(raw) != 35 {
		return "", fmt.Errorf("hsdesc: %q is not a v3 onion address", onionAddr)
	}
	identity := raw[:32]

	cert, err := pemBlock(desc, "descriptor-signing-key-cert", "ED25519 CERT")
	if err != nil {
		return "", err
	}
	blinded, err := certSigningKey(cert)
	if err != nil {
		return "", err
	}
	var revision uint64
	for _, l := range strings.Split(desc, "\n") {
		if v, ok := strings.CutPrefix(l, "revision-counter "); ok {
			if revision, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64); err != nil {
				return "", fmt.Errorf("hsdesc: revision-counter %q", v)
			}
		}
	}
	credential := sha3.Sum256(append([]byte("credential"), identity...))
	subcredential := sha3.Sum256(append(append([]byte("subcredential"), credential[:]...), blinded...))

	outer, err := pemBlock(desc, "superencrypted", "MESSAGE")
	if err != nil {
		return "", err
	}
	middle, err := decryptLayer(outer, blinded, subcredential[:], revision, "hsdir-superencrypted-data")
	if err != nil {
		return "", fmt.Errorf("hsdesc: outer layer: %w", err)
	}
	inner, err := pemBlock(string(middle), "encrypted", "MESSAGE")
	if err != nil {
		return "", err
	}
	plain, err := decryptLayer(inner, blinded, subcredential[:], revision, "hsdir-encrypted-data")
	if err != nil {
		return "", fmt.Errorf("hsdesc: inner layer: %w", err)
	}
	return string(bytes.TrimRight(plain, "\x00")), nil
}

// pemBlock returns the base64-decoded block of type typ that follows the
// line keyword in text.
func pemBlock(text, keyword, typ string) ([]byte, error) {
	start := 0
	if !strings.HasPrefix(text, keyword+"\n") {
		i := strings.Index(text, "\n"+keyword+"\n")
		if i < 0 {
			return nil, fmt.Errorf("hsdesc: no %s", keyword)
		}
		start = i + 1
	}
	rest := text[start+len(keyword)+1:]
	begin, end := "-----BEGIN "+typ+"-----", "-----END "+typ+"-----"
	rest, ok := strings.CutPrefix(rest, begin)
	if !ok {
		return nil, fmt.Errorf("hsdesc: %s is not followed by %s", keyword, begin)
	}
	body, _, ok := strings.Cut(rest, end)
	if !ok {
		return nil, fmt.Errorf("hsdesc: %s has no %s", keyword, end)
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("hsdesc: %s: %w", keyword, err)
	}
	return b, nil
}

// certSigningKey returns the key that signed a tor ed25519 certificate
// (cert-spec: extension type 4, signed-with-ed25519-key): for the
// descriptor signing key certificate, the blinded key.
func certSigningKey(c []byte) ([]byte, error) {
	// VERSION, CERT_TYPE, EXPIRATION_DATE(4), CERT_KEY_TYPE, CERTIFIED_KEY(32), N_EXTENSIONS
	if len(c) < 40 || c[0] != 1 {
		return nil, errors.New("hsdesc: not a tor ed25519 certificate")
	}
	n, p := int(c[39]), 40
	for range n {
		if p+4 > len(c) {
			return nil, errors.New("hsdesc: certificate extensions cut short")
		}
		l, typ := int(binary.BigEndian.Uint16(c[p:])), c[p+2]
		data := p + 4
		if data+l > len(c) {
			return nil, errors.New("hsdesc: certificate extension cut short")
		}
		if typ == 4 && l == 32 {
			return c[data : data+32], nil
		}
		p = data + l
	}
	return nil, errors.New("hsdesc: certificate names no signing key")
}

// decryptLayer decrypts one layer, SALT(16) | ENCRYPTED | MAC(32).
func decryptLayer(blob, blinded, subcredential []byte, revision uint64, constant string) ([]byte, error) {
	if len(blob) < 16+32 {
		return nil, errors.New("too short")
	}
	salt, enc, mac := blob[:16], blob[16:len(blob)-32], blob[len(blob)-32:]
	kdf := sha3.NewSHAKE256()
	kdf.Write(blinded)
	kdf.Write(subcredential)
	kdf.Write(binary.BigEndian.AppendUint64(nil, revision))
	kdf.Write(salt)
	kdf.Write([]byte(constant))
	keys := make([]byte, 32+16+32)
	kdf.Read(keys)
	key, iv, macKey := keys[:32], keys[32:48], keys[48:]
	m := sha3.New256()
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(macKey))))
	m.Write(macKey)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(salt))))
	m.Write(salt)
	m.Write(enc)
	if !hmac.Equal(m.Sum(nil), mac) {
		return nil, errors.New("MAC does not match (wrong address, or not this descriptor)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(enc))
	cipher.NewCTR(block, iv).XORKeyStream(out, enc)
	return out, nil
}
