package app

import "github.com/gorilla/securecookie"

// sealedTokenName binds a sealed token to its use: the MAC covers it, so a
// sealed token never decodes as a session cookie, nor a cookie as a token.
const sealedTokenName = "mgd_task_token"

// maxSealedLength fits the longest token sign-in accepts (4,096
// characters) once encrypted, signed and base64-encoded.
const maxSealedLength = 16 << 10

// tokenSealer seals the API token of a running generation for its audit
// row (generation.Sealer) with the session cookie's keys, the way the
// cookie itself carries it: encrypted and signed.
type tokenSealer struct{ codec *securecookie.SecureCookie }

func newTokenSealer(hashKey, blockKey []byte) tokenSealer {
	codec := securecookie.New(hashKey, blockKey)
	codec.MaxAge(0) // a generation's token is needed for as long as it runs
	codec.MaxLength(maxSealedLength)
	return tokenSealer{codec: codec}
}

func (s tokenSealer) Seal(token string) (string, error) {
	return s.codec.Encode(sealedTokenName, token)
}

func (s tokenSealer) Open(sealed string) (string, error) {
	var token string
	err := s.codec.Decode(sealedTokenName, sealed, &token)
	return token, err
}
