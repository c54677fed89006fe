// The authcode scenario's other sign-in methods: a passkey (passwordless,
// a software authenticator) and a password followed by a TOTP code.
//
// Both are set up through gatehouse's own account pages before the run, as
// a person would: -authcode-login passkey signs the user in with the
// password once and registers a passkey at /account/security/passkeys;
// -authcode-login totp signs every account of the pool in once and turns
// on an authenticator app at /account/security. What is measured is then
// the sign-in alone.

package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sign-in methods of the authcode scenario (-authcode-login).
const (
	loginPassword = "password" // the login form
	loginPasskey  = "passkey"  // a discoverable passkey, no password
	loginTOTP     = "totp"     // the login form, then a code from an authenticator app
)

// Gatehouse's account pages the set-up uses, relative to the server's
// origin (the authorization endpoint's).
const (
	pathLogin            = "/login"
	pathAccountSecurity  = "/account/security"
	pathAccountPasskeys  = "/account/security/passkeys"
	totpPeriod           = 30 // seconds (RFC 6238 §4.1 X; what gatehouse enrols)
	totpDigits           = 6
	maxSetupResponseBody = 1 << 20
)

// ---- TOTP -------------------------------------------------------------------

// totpCode is the RFC 6238 code of key for time-step step: HOTP (RFC 4226
// §5.3, HMAC-SHA-1 and dynamic truncation) of the step counter.
func totpCode(key []byte, step int64) string {
	mac := hmac.New(sha1.New, key)
	_ = binary.Write(mac, binary.BigEndian, uint64(step))
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, v%1_000_000)
}

func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpAccount is one account of the pool: its key and the step of the
// last code it used. The server accepts a code once (a replay within its
// window is refused), so an account signs in at most once per step; the
// pool hands out accounts whose current code is still unused.
type totpAccount struct {
	username string
	key      []byte
	lastStep int64
}

type totpPool struct {
	mu        sync.Mutex
	accounts  []*totpAccount
	next      int
	exhausted atomic.Int64 // flows that found no account with an unused code
}

// take returns an account and the code of the current step, marking the
// step used; false when every account has used it (the pool is too small
// for the rate: about flows/s × 30 accounts are needed).
func (p *totpPool) take(now time.Time) (string, string, bool) {
	step := totpStep(now)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < len(p.accounts); i++ {
		a := p.accounts[p.next]
		p.next = (p.next + 1) % len(p.accounts)
		if a.lastStep < step {
			a.lastStep = step
			return a.username, totpCode(a.key, step), true
		}
	}
	return "", "", false
}

// poolUsernames expands -username with %d into n accounts (1..n).
func poolUsernames(pattern string, n int) []string {
	if n <= 1 && !strings.Contains(pattern, "%d") {
		return []string{pattern}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(pattern, i+1)
	}
	return out
}

// ---- passkey: a software authenticator -------------------------------------

// softPasskey answers WebAuthn ceremonies as a browser with a platform
// authenticator would: "none" attestation (WebAuthn §8.7), ES256, user
// present and verified. It reports a signature counter of 0, as synced
// passkeys (iCloud Keychain, Google Password Manager) do (§6.1.1: a
// counter that stays 0 is not checked), so that every worker can use the
// one credential at once.
type softPasskey struct {
	rpID, origin string
	id           []byte
	key          *ecdsa.PrivateKey
	userHandle   []byte
}

const (
	adUP = 0x01 // user present
	adUV = 0x04 // user verified
	adBE = 0x08 // backup eligible (synced)
	adBS = 0x10 // backed up
	adAT = 0x40 // attested credential data follows
)

func newSoftPasskey(rpID, origin string) (*softPasskey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &softPasskey{rpID: rpID, origin: origin, id: id, key: key}, nil
}

// authData is the authenticator data (§6.1): RP ID hash, flags, counter.
func (k *softPasskey) authData(flags byte) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	out := append(rp[:], flags|adUP|adUV|adBE|adBS)
	return binary.BigEndian.AppendUint32(out, 0)
}

func (k *softPasskey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// webauthnOptions is what a ceremony needs of the server's options.
type webauthnOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

// create answers registration options with a new credential, as the
// PublicKeyCredential JSON the page posts.
func (k *softPasskey) create(o webauthnOptions) ([]byte, error) {
	uh, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil || len(uh) == 0 {
		return nil, fmt.Errorf("registration options without a user id")
	}
	k.userHandle = uh
	x := k.key.PublicKey.X.FillBytes(make([]byte, 32))
	y := k.key.PublicKey.Y.FillBytes(make([]byte, 32))
	// COSE_Key (RFC 9052 §7, RFC 9053 §7.1.1): kty EC2, alg ES256, crv P-256.
	var cose cborBuf
	cose.head(5, 5)
	cose.int(1).int(2)
	cose.int(3).int(-7)
	cose.int(-1).int(1)
	cose.int(-2).bytes(x)
	cose.int(-3).bytes(y)
	ad := k.authData(adAT)
	ad = append(ad, make([]byte, 16)...) // AAGUID: none
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(k.id)))
	ad = append(ad, k.id...)
	ad = append(ad, cose...)
	var att cborBuf
	att.head(5, 3)
	att.text("fmt").text("none")
	att.text("attStmt").head(5, 0)
	att.text("authData").bytes(ad)
	b64 := base64.RawURLEncoding.EncodeToString
	return json.Marshal(map[string]any{
		"id": b64(k.id), "rawId": b64(k.id), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64(att),
			"transports":        []string{"internal", "hybrid"},
		},
		"clientExtensionResults": map[string]any{},
	})
}

// get answers authentication options with an assertion (§6.3.3: the
// signature is over authenticatorData || SHA-256(clientDataJSON)).
func (k *softPasskey) get(o webauthnOptions) ([]byte, error) {
	ad := k.authData(0)
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	return json.Marshal(map[string]any{
		"id": b64(k.id), "rawId": b64(k.id), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64(cd),
			"authenticatorData": b64(ad),
			"signature":         b64(sig),
			"userHandle":        b64(k.userHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// cborBuf writes the few CBOR items (RFC 8949 §3) an attestation object
// and a COSE key need: small maps, integers, byte and text strings.
type cborBuf []byte

func (b *cborBuf) head(major byte, n uint64) *cborBuf {
	m := major << 5
	switch {
	case n < 24:
		*b = append(*b, m|byte(n))
	case n < 1<<8:
		*b = append(*b, m|24, byte(n))
	case n < 1<<16:
		*b = binary.BigEndian.AppendUint16(append(*b, m|25), uint16(n))
	default:
		*b = binary.BigEndian.AppendUint32(append(*b, m|26), uint32(n))
	}
	return b
}

func (b *cborBuf) int(v int64) *cborBuf {
	if v < 0 {
		return b.head(1, uint64(-1-v))
	}
	return b.head(0, uint64(v))
}

func (b *cborBuf) bytes(v []byte) *cborBuf {
	b.head(2, uint64(len(v)))
	*b = append(*b, v...)
	return b
}

func (b *cborBuf) text(v string) *cborBuf {
	b.head(3, uint64(len(v)))
	*b = append(*b, v...)
	return b
}

// ---- the requests a ceremony adds -------------------------------------------

// beginCeremony POSTs to a ceremony's JSON begin endpoint as the page's
// script does: same origin, the page's CSRF token in X-CSRF-Token.
func beginCeremony(cl *http.Client, beginURL, origin, csrf string, buf *bytes.Buffer) (webauthnOptions, int, error) {
	var o webauthnOptions
	req, err := http.NewRequest(http.MethodPost, beginURL, strings.NewReader("{}"))
	if err != nil {
		return o, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := cl.Do(req)
	if err != nil {
		return o, 0, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxSetupResponseBody))
	resp.Body.Close()
	if err != nil {
		return o, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return o, resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, truncate(buf.Bytes(), 200))
	}
	if err := json.Unmarshal(buf.Bytes(), &o); err != nil || o.PublicKey.Challenge == "" {
		return o, resp.StatusCode, fmt.Errorf("no challenge in %s", truncate(buf.Bytes(), 200))
	}
	return o, resp.StatusCode, nil
}

// ---- set-up through the account pages ---------------------------------------

// browser is a user agent for the set-up: its own cookies, redirects
// followed on the server only.
type browser struct {
	cl     *http.Client
	origin *url.URL
	buf    bytes.Buffer
}

func newBrowser(base *http.Client, origin *url.URL) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{origin: origin, cl: &http.Client{
		Transport: base.Transport, Timeout: base.Timeout, Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || !sameOrigin(req.URL, origin) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// do sends a GET (form == nil) or a form POST to path (with its query)
// and returns the final status and page.
func (b *browser) do(path string, form url.Values) (int, []byte, error) {
	_, status, page, err := b.doAt(path, form)
	return status, page, err
}

// doAt is do that also returns the path of the page it ended on.
func (b *browser) doAt(path string, form url.Values) (string, int, []byte, error) {
	u, err := b.origin.Parse(path)
	if err != nil {
		return "", 0, nil, err
	}
	var req *http.Request
	if form == nil {
		req, err = http.NewRequest(http.MethodGet, u.String(), nil)
	} else {
		req, err = http.NewRequest(http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return "", 0, nil, err
	}
	req.Header.Set("Accept", "text/html")
	resp, err := b.cl.Do(req)
	if err != nil {
		return "", 0, nil, err
	}
	b.buf.Reset()
	_, err = b.buf.ReadFrom(io.LimitReader(resp.Body, maxSetupResponseBody))
	resp.Body.Close()
	return resp.Request.URL.Path, resp.StatusCode, b.buf.Bytes(), err
}

var reCSRF = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

func csrfToken(page []byte) string {
	if m := reCSRF.FindSubmatch(page); m != nil {
		return html.UnescapeString(string(m[1]))
	}
	return ""
}

// signIn signs the browser in with the password (no authorization
// request: the account pages) and returns the CSRF token of the page
// at path.
func (b *browser) signIn(username, password, path string) (string, error) {
	status, page, err := b.do(pathLogin+"?"+url.Values{"next": {path}}.Encode(), nil)
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d %v", pathLogin, status, err)
	}
	f, ok := pageForm(page)
	if !ok || f.pass == "" {
		return "", fmt.Errorf("GET %s: no login form", pathLogin)
	}
	f.values.Set(f.user, username)
	f.values.Set(f.pass, password)
	at, status, page, err := b.doAt(pathLogin, f.values)
	if err != nil {
		return "", fmt.Errorf("sign in as %s: %v", username, err)
	}
	if status != http.StatusOK || at != path {
		return "", fmt.Errorf("sign in as %s at %s: status %d (wrong password, a locked account, or one that already has a second factor): %s",
			username, path, status, pageText(page))
	}
	token := csrfToken(page)
	if token == "" {
		return "", fmt.Errorf("%s: no CSRF token on the page", path)
	}
	return token, nil
}

var reTOTPSecret = regexp.MustCompile(`id="totp-secret">([A-Z2-7 =]+)<`)

// enrolTOTP turns an authenticator app on for username and returns its
// key and the step of the code that confirmed it (used up).
func enrolTOTP(base *http.Client, origin *url.URL, username, password string) (*totpAccount, error) {
	b := newBrowser(base, origin)
	token, err := b.signIn(username, password, pathAccountSecurity)
	if err != nil {
		return nil, err
	}
	status, page, err := b.do(pathAccountSecurity+"/totp", url.Values{"_csrf": {token}})
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("%s: begin an authenticator app: status %d %v: %s", username, status, err, pageText(page))
	}
	m := reTOTPSecret.FindSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("%s: no key on the authenticator page", username)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(strings.ReplaceAll(string(m[1]), " ", ""), "="))
	if err != nil {
		return nil, fmt.Errorf("%s: the authenticator key: %v", username, err)
	}
	step := totpStep(time.Now())
	status, page, err = b.do(pathAccountSecurity+"/totp/confirm", url.Values{"_csrf": {token}, "code": {totpCode(key, step)}})
	if err != nil || status != http.StatusOK || !bytes.Contains(page, []byte(`id="recovery-codes"`)) {
		return nil, fmt.Errorf("%s: confirm the authenticator app: status %d %v: %s", username, status, err, pageText(page))
	}
	return &totpAccount{username: username, key: key, lastStep: step}, nil
}

// enrolPool turns the authenticator app on for every account, a few at a
// time (each is a password sign-in: argon2id on the server).
func enrolPool(base *http.Client, origin *url.URL, usernames []string, password string, parallel int) (*totpPool, error) {
	p := &totpPool{accounts: make([]*totpAccount, len(usernames))}
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	idx := make(chan int)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if failed.Load() != nil {
					continue
				}
				a, err := enrolTOTP(base, origin, usernames[i], password)
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					continue
				}
				p.accounts[i] = a
			}
		}()
	}
	t0 := time.Now()
	for i := range usernames {
		idx <- i
	}
	close(idx)
	wg.Wait()
	if e := failed.Load(); e != nil {
		return nil, *e
	}
	fmt.Fprintf(os.Stderr, "# authcode: authenticator app on for %d accounts in %s\n", len(usernames), time.Since(t0).Round(time.Millisecond))
	// Each confirmation used its step's code: the accounts confirmed in
	// the last step are free from the next one. Waiting for it (30 s at
	// most) keeps the first flows from finding the pool used up.
	var last int64
	for _, a := range p.accounts {
		last = max(last, a.lastStep)
	}
	time.Sleep(time.Until(time.Unix((last+1)*totpPeriod, 0)))
	return p, nil
}

// registerPasskey signs username in with the password and adds a new
// passkey to the account, as the passkeys page's script does.
func registerPasskey(base *http.Client, origin *url.URL, username, password string) (*softPasskey, error) {
	k, err := newSoftPasskey(origin.Hostname(), origin.Scheme+"://"+origin.Host)
	if err != nil {
		return nil, err
	}
	b := newBrowser(base, origin)
	token, err := b.signIn(username, password, pathAccountPasskeys)
	if err != nil {
		return nil, err
	}
	begin := origin.ResolveReference(&url.URL{Path: pathAccountPasskeys + "/begin"}).String()
	o, _, err := beginCeremony(b.cl, begin, origin.Scheme+"://"+origin.Host, token, &b.buf)
	if err != nil {
		return nil, fmt.Errorf("begin a passkey registration: %v", err)
	}
	cred, err := k.create(o)
	if err != nil {
		return nil, err
	}
	status, page, err := b.do(pathAccountPasskeys+"/add", url.Values{"_csrf": {token}, "name": {"loadgen " + randToken(4)}, "credential": {string(cred)}})
	if err != nil || status != http.StatusOK || !bytes.Contains(page, []byte("was added")) {
		return nil, fmt.Errorf("add the passkey: status %d %v: %s", status, err, pageText(page))
	}
	return k, nil
}

var errPoolExhausted = errors.New("every account of the pool has used the current TOTP code: the pool is too small for this rate (give about flows/s x 30 accounts)")
