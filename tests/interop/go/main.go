// Verifies PaySeal verdict tokens with github.com/golang-jwt/jwt/v5 and
// github.com/MicahParks/keyfunc/v3 (libraries PaySeal did not write), using only the JWKS the live
// verifier publishes at GET /v1/keys, fetched over HTTPS with the verifier's self-signed dev
// certificate trusted explicitly (no verification is turned off).
//
// Usage: go run . JWKS_URL CA_PEM ISSUER APP TOKEN_FILE...
//
// The same cases as tests/interop/python/verify.py: each token must verify (EdDSA only, typ
// payseal-verdict+jwt, the issuer, iat, exp, a known kid); each tampered copy of it (payload
// changed, alg switched to HS256 or none, unknown kid, typ JWT) must be refused, and so must the
// genuine token when another issuer is expected, each with the expected error. Then the book's
// grant rules: app and outcome == "paid", each jti once, each purchase once: of the paid tokens,
// the first of each purchase (store + transaction_id) delivers it and every later one
// (re-verifications: fresh jti, redemption repeat) is errAlreadyDelivered; the tokens of one
// purchase granted from as many goroutines at once deliver it once. Prints one line per check and
// `go: N passed, N failed`; exits 1 on any failure.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

var (
	errNotVerdict       = errors.New("not a PaySeal verdict (typ)")
	errNotPaid          = errors.New("not paid, or another app")
	errReplayed         = errors.New("replayed")
	errAlreadyDelivered = errors.New("already delivered")
)

// ---- the book's Go example (docs/src/delivery.md, "Delivering to your server") -------------------

// newKeys: the JWKS of the verifier, fetched now, refreshed hourly and on an unknown kid.
func newKeys(ctx context.Context, jwksURL string, client *http.Client) (keyfunc.Keyfunc, error) {
	return keyfunc.NewDefaultOverrideCtx(ctx, []string{jwksURL}, keyfunc.Override{Client: client})
}

// check: the token's claims if it is a PaySeal verdict signed by a key of the JWKS, else an error.
func check(k keyfunc.Keyfunc, token, issuer string) (jwt.MapClaims, error) {
	verdictKey := func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != "payseal-verdict+jwt" {
			return nil, errNotVerdict
		}
		return k.Keyfunc(t) // the key named by kid
	}
	c := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, c, verdictKey, jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer(issuer), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	return c, err
}

type delivery struct{ account, product, tx string }

// grant: what to deliver for a token now, or why not. seen: each jti once (the token replay
// guard); delivered: each purchase once (your records, a unique key).
func grant(k keyfunc.Keyfunc, token, issuer, app string, seen, delivered *onceSet) (delivery, error) {
	c, err := check(k, token, issuer)
	if err != nil {
		return delivery{}, err
	}
	str := func(k string) string { s, _ := c[k].(string); return s }
	if str("app") != app || str("outcome") != "paid" || str("transaction_id") == "" {
		return delivery{}, errNotPaid
	}
	if jti := str("jti"); jti == "" || !seen.Claim(jti) {
		return delivery{}, errReplayed
	}
	// Each verification of a purchase has a new jti ("repeat" after the first): deliver by the
	// purchase, once. "repeat" means already delivered, unless your own records say not.
	if !delivered.Claim(str("app") + "/" + str("store") + "/" + str("transaction_id")) {
		return delivery{}, errAlreadyDelivered
	}
	return delivery{str("sub"), str("product_id"), str("transaction_id")}, nil
}

// onceSet: each key once, in memory (several instances: a table with a unique key, claimed by INSERT).
type onceSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (s *onceSet) Claim(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[key] {
		return false
	}
	s.seen[key] = true
	return true
}

// ---- the test --------------------------------------------------------------------------------

// counting counts the requests made through it (the JWKS fetches).
type counting struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// want: how a check must end. ok: it must verify; else refused must hold for the error.
type want struct {
	ok      bool
	tag     string
	refused func(error) bool
	// describe, if set, names the refusal instead of tag
	describe func(error) string
}

var verifies = want{ok: true}

// unknownKid: the first unknown kid makes keyfunc fetch the JWKS again (then the key is not found);
// later ones are refused without a fetch (its rate limit: one refresh per 5 minutes).
var unknownKid = want{refused: is(keyfunc.ErrKeyfunc), describe: func(e error) string {
	if errors.Is(e, jwkset.ErrKeyNotFound) {
		return "jwkset.ErrKeyNotFound, after a refetch"
	}
	return "keyfunc.ErrKeyfunc, refetch rate-limited"
}}

func refusedAs(tag string, match func(error) bool) want { return want{tag: tag, refused: match} }
func is(target error) func(error) bool                  { return func(e error) bool { return errors.Is(e, target) } }
func algRefused(alg string) func(error) bool {
	return func(e error) bool {
		return errors.Is(e, jwt.ErrTokenSignatureInvalid) && strings.Contains(e.Error(), "signing method "+alg+" is invalid")
	}
}

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func unb64(part string) map[string]any {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		panic(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(err)
	}
	return m
}

// with: a copy of m with key set to value.
func with(m map[string]any, key string, value any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	out[key] = value
	return out
}

func main() {
	if len(os.Args) < 6 {
		fmt.Fprintln(os.Stderr, "usage: go run . JWKS_URL CA_PEM ISSUER APP TOKEN_FILE...")
		os.Exit(2)
	}
	jwksURL, caFile, issuer, app, tokenFiles := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5:]

	pem, err := os.ReadFile(caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fmt.Fprintf(os.Stderr, "no certificate in %s\n", caFile)
		os.Exit(2)
	}
	fetches := &counting{base: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	client := &http.Client{Transport: fetches, Timeout: 10 * time.Second}

	passed, failed := 0, 0
	subs := &subscriptions{}
	result := func(ok bool, line string) {
		if ok {
			passed++
			fmt.Println("ok   " + line)
		} else {
			failed++
			fmt.Println("FAIL " + line)
		}
	}

	// The HTTPS is verified: without the dev certificate trusted the same URL is refused.
	_, plainErr := (&http.Client{Timeout: 10 * time.Second}).Get(jwksURL)
	var unknownCA x509.UnknownAuthorityError
	result(errors.As(plainErr, &unknownCA), fmt.Sprintf("%s without the dev certificate trusted: refused (%v)", jwksURL, plainErr))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k, err := newKeys(ctx, jwksURL, client)
	if err != nil {
		result(false, fmt.Sprintf("keyfunc.NewDefaultOverrideCtx(%s): %v", jwksURL, err))
		fmt.Printf("go: %d passed, %d failed\n", passed, failed)
		os.Exit(1)
	}
	jwks, err := k.Storage().KeyReadAll(ctx)
	kids := []string{}
	for _, j := range jwks {
		kids = append(kids, j.Marshal().KID)
	}
	result(err == nil && len(kids) > 0, fmt.Sprintf("JWKS read over HTTPS from %s: kids %v%s", jwksURL, kids, oneLine(err)))

	expect := func(name, token string, w want, checkClaims func(jwt.MapClaims) bool, iss string) {
		c, err := check(k, token, iss)
		switch {
		case err == nil && w.ok && checkClaims(c):
			result(true, name)
		case err == nil:
			result(false, name+": verified but should not have")
		case !w.ok && w.refused(err):
			tag := w.tag
			if w.describe != nil {
				tag = w.describe(err)
			}
			result(true, fmt.Sprintf("%s (refused: %s)", name, tag))
		default:
			result(false, fmt.Sprintf("%s: %s", name, oneLine(err)))
		}
	}
	anyClaims := func(jwt.MapClaims) bool { return true }

	tokens, files := []string{}, []string{}
	for _, file := range tokenFiles {
		raw, err := os.ReadFile(file)
		if err != nil {
			result(false, fmt.Sprintf("%s: %v", file, err))
			continue
		}
		token := strings.TrimSpace(string(raw))
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			result(false, file+": not a compact JWS")
			continue
		}
		h, p, s := parts[0], parts[1], parts[2]
		header, payload := unb64(h), unb64(p)

		expect(file+": genuine token verifies", token, verifies, func(c jwt.MapClaims) bool {
			return c["outcome"] == payload["outcome"] && c["receipt_sha256"] == payload["receipt_sha256"] &&
				subs.ok(c)
		}, issuer)
		flipped := "paid"
		if payload["outcome"] == "paid" {
			flipped = "not_paid"
		}
		expect(file+": altered outcome refused", h+"."+b64(with(payload, "outcome", flipped))+"."+s,
			refusedAs("ErrEd25519Verification", is(jwt.ErrEd25519Verification)), anyClaims, issuer)
		expect(file+": alg HS256 refused", b64(with(header, "alg", "HS256"))+"."+p+"."+s,
			refusedAs("signing method HS256 is invalid", algRefused("HS256")), anyClaims, issuer)
		expect(file+": alg none refused", b64(with(header, "alg", "none"))+"."+p+".",
			refusedAs("signing method none is invalid", algRefused("none")), anyClaims, issuer)
		expect(file+": unknown kid refused", b64(with(header, "kid", "attacker"))+"."+p+"."+s,
			unknownKid, anyClaims, issuer)
		expect(file+": typ JWT refused", b64(with(header, "typ", "JWT"))+"."+p+"."+s,
			refusedAs("errNotVerdict", is(errNotVerdict)), anyClaims, issuer)
		expect(file+": another issuer expected, refused", token,
			refusedAs("ErrTokenInvalidIssuer", is(jwt.ErrTokenInvalidIssuer)), anyClaims, "https://other.example")

		tokens, files = append(tokens, token), append(files, file)
	}
	result(subs.paid >= 1 && subs.expired >= 1, fmt.Sprintf(
		"subscription tokens with kind and expires_at: %d paid (until a future end), %d not_paid/expired (a past end)",
		subs.paid, subs.expired))
	grants(k, tokens, files, issuer, app, result)
	// keyfunc fetched the JWKS at start and once more for the first unknown kid; later unknown kids
	// are refused without a fetch (its rate limit: one refresh per 5 minutes).
	n := fetches.n.Load()
	result(n == 2, fmt.Sprintf("JWKS requests to the verifier: %d (at start, then one refresh for the first unknown kid)", n))

	fmt.Printf("go: %d passed, %d failed\n", passed, failed)
	if failed > 0 || passed == 0 {
		os.Exit(1)
	}
}

// subscriptions: a verified subscription token's kind and expires_at (Unix ms, the end of the paid
// period, not the token's exp): paid → in the future; not_paid/expired → in the past.
type subscriptions struct{ paid, expired int }

func (s *subscriptions) ok(c jwt.MapClaims) bool {
	kind, has := c["kind"]
	if !has {
		return true
	}
	if kind != "consumable" && kind != "non_consumable" && kind != "subscription" {
		return false
	}
	raw, has := c["expires_at"]
	if kind != "subscription" || !has {
		return true
	}
	end, isNumber := raw.(float64) // encoding/json numbers
	exp, _ := c["exp"].(float64)
	if !isNumber || end != float64(int64(end)) || end <= exp {
		return false
	}
	now := float64(time.Now().UnixMilli())
	switch {
	case c["outcome"] == "paid":
		s.paid++
		return end > now
	case c["reason"] == "expired":
		s.expired++
		return end <= now
	}
	return true
}

// grants: the book's grant on the tokens (in order): paid tokens deliver their purchase once,
// later tokens of it are errAlreadyDelivered, others are refused; then a used token, another app,
// and the tokens of the most verified purchase from as many goroutines at once.
func grants(k keyfunc.Keyfunc, tokens, files []string, issuer, app string, result func(bool, string)) {
	fresh := func() *onceSet { return &onceSet{seen: map[string]bool{}} }
	seen, delivered := fresh(), fresh()
	byPurchase := map[string][]string{} // purchase → its paid tokens, in order
	var most []string
	for i, token := range tokens {
		c := unb64(strings.Split(token, ".")[1])
		d, err := grant(k, token, issuer, app, seen, delivered)
		if c["outcome"] != "paid" {
			result(errors.Is(err, errNotPaid), fmt.Sprintf("%s: README grant refuses %s/%s (%s)", files[i], c["outcome"], c["reason"], oneLine(err)))
			continue
		}
		key := fmt.Sprint(c["app"], "/", c["store"], "/", c["transaction_id"])
		byPurchase[key] = append(byPurchase[key], token)
		if len(byPurchase[key]) > len(most) {
			most = byPurchase[key]
		}
		if len(byPurchase[key]) == 1 {
			result(err == nil && d.account == c["sub"] && d.tx == c["transaction_id"],
				fmt.Sprintf("%s: README grant delivers %s to %s (tx %s, %s)%s", files[i], d.product, d.account, d.tx, c["redemption"], oneLine(err)))
		} else {
			result(errors.Is(err, errAlreadyDelivered), fmt.Sprintf("%s: README grant, purchase %s verified again (%s, new jti), not delivered again (%s)",
				files[i], c["transaction_id"], c["redemption"], oneLine(err)))
		}
	}
	result(len(most) >= 3 && len(byPurchase) >= 2,
		fmt.Sprintf("the tokens cover one purchase verified %d times and %d purchases in all", len(most), len(byPurchase)))
	if len(most) == 0 {
		return
	}
	_, err := grant(k, most[0], issuer, app, seen, delivered)
	result(errors.Is(err, errReplayed), fmt.Sprintf("README grant of a used token again, refused (%s)", oneLine(err)))
	_, err = grant(k, most[0], issuer, "com.other.app", fresh(), fresh())
	result(errors.Is(err, errNotPaid), fmt.Sprintf("README grant for another app, refused (%s)", oneLine(err)))
	// All tokens of the purchase from as many goroutines at once, fresh records: one delivers.
	seen, delivered = fresh(), fresh()
	errs := make([]error, len(most))
	var start, done sync.WaitGroup
	start.Add(1)
	for i, token := range most {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			_, errs[i] = grant(k, token, issuer, app, seen, delivered)
		}()
	}
	start.Done()
	done.Wait()
	wins, others := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, errAlreadyDelivered):
			others++
		}
	}
	result(wins == 1 && others == 0, fmt.Sprintf("README grant of the purchase's %d tokens from %d goroutines at once: delivered %d time(s), %d other errors",
		len(most), len(most), wins, others))
}

// oneLine: an error on one line (errors.Join puts a newline between the joined errors).
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
