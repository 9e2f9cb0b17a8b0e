package metrics

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"
)

// cpuOnly is a Config that asks srv for the CPU query alone.
func cpuOnly(url string) Config {
	return Config{URL: url, Clock: testclock.NewFakeClock(t0),
		Memory: Query{Disabled: true}, PendingPods: Query{Disabled: true}, APILatency: Query{Disabled: true}}
}

// authServer answers every query with 1 and remembers the last
// Authorization header.
func authServer(t *testing.T) (*httptest.Server, *atomic.Value) {
	t.Helper()
	var got atomic.Value
	got.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(vectorBody(t0, "1")))
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCollectSendsCredentials(t *testing.T) {
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	tests := []struct {
		name string
		edit func(t *testing.T, c *Config)
		want string
	}{
		{"none", func(*testing.T, *Config) {}, ""},
		{"bearer", func(_ *testing.T, c *Config) { c.BearerToken = "s3cret" }, "Bearer s3cret"},
		{"bearer file, trailing newline dropped", func(t *testing.T, c *Config) {
			c.BearerTokenFile = writeFile(t, "token", "from-file\n")
		}, "Bearer from-file"},
		{"basic", func(_ *testing.T, c *Config) { c.BasicAuth = &BasicAuth{Username: "fleet", Password: "pw"} }, basic("fleet", "pw")},
		{"basic, password file", func(t *testing.T, c *Config) {
			c.BasicAuth = &BasicAuth{Username: "fleet", PasswordFile: writeFile(t, "pw", "filed\n")}
		}, basic("fleet", "filed")},
		{"basic, empty password", func(_ *testing.T, c *Config) { c.BasicAuth = &BasicAuth{Username: "fleet"} }, basic("fleet", "")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := authServer(t)
			cfg := cpuOnly(srv.URL)
			tc.edit(t, &cfg)
			p, err := NewPrometheus(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			snap, err := p.Collect(context.Background())
			if err != nil || !snap.CPU.OK {
				t.Fatalf("Collect: %v %v", err, snap.CPU.Err)
			}
			if got.Load() != tc.want {
				t.Errorf("Authorization %q, want %q", got.Load(), tc.want)
			}
		})
	}
}

// A token file is read for every query: a rotated token is sent at once,
// and a token file that went away makes the metric missing, not zero.
func TestBearerTokenFileRotation(t *testing.T) {
	srv, got := authServer(t)
	file := writeFile(t, "token", "first")
	cfg := cpuOnly(srv.URL)
	cfg.BearerTokenFile = file
	p, err := NewPrometheus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, token := range []string{"first", "second"} {
		if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		if want := "Bearer " + token; got.Load() != want {
			t.Errorf("Authorization %q, want %q", got.Load(), want)
		}
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	snap, err := p.Collect(context.Background())
	if err == nil || snap.CPU.OK || !strings.Contains(snap.CPU.Err.Error(), "bearer token") {
		t.Errorf("Collect without the token file: %v, CPU %v %v; want missing, naming the bearer token", err, snap.CPU.OK, snap.CPU.Err)
	}
}

// selfSigned makes a certificate for 127.0.0.1 that is its own CA and
// serves as server and client certificate; it returns the PEM files.
func selfSigned(t *testing.T) (cert tls.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node-fleet test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"prom.test"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return cert, writeFile(t, "cert.pem", string(certPEM)), writeFile(t, "key.pem", string(keyPEM))
}

func TestTLS(t *testing.T) {
	cert, certFile, keyFile := selfSigned(t)
	caPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	// One server that requires a client certificate signed by the CA,
	// one that does not.
	newServer := func(requireClient bool) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(vectorBody(t0, "1")))
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		if requireClient {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(caPEM)
			srv.TLS.ClientAuth, srv.TLS.ClientCAs = tls.RequireAndVerifyClientCert, pool
		}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	plain, mutual := newServer(false), newServer(true)
	tests := []struct {
		name    string
		srv     *httptest.Server
		tls     TLSConfig
		wantErr string // in the CPU metric's error; "" means the query succeeds
	}{
		{"system roots refuse a private CA", plain, TLSConfig{}, "certificate"},
		{"CA file", plain, TLSConfig{CAFile: certFile}, ""},
		{"CA inline", plain, TLSConfig{CA: caPEM}, ""},
		{"skip verify", plain, TLSConfig{InsecureSkipVerify: true}, ""},
		{"server name checked", plain, TLSConfig{CA: caPEM, ServerName: "other.test"}, "other.test"},
		{"server name override", plain, TLSConfig{CA: caPEM, ServerName: "prom.test"}, ""},
		{"client certificate", mutual, TLSConfig{CA: caPEM, CertFile: certFile, KeyFile: keyFile}, ""},
		{"client certificate missing", mutual, TLSConfig{CA: caPEM}, "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cpuOnly(tc.srv.URL)
			cfg.TLS = tc.tls
			p, err := NewPrometheus(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			snap, _ := p.Collect(context.Background())
			switch {
			case tc.wantErr == "" && !snap.CPU.OK:
				t.Errorf("CPU missing: %v", snap.CPU.Err)
			case tc.wantErr != "" && snap.CPU.OK:
				t.Errorf("CPU %v read; want the connection refused (%q)", snap.CPU.Value, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(snap.CPU.Err.Error(), tc.wantErr):
				t.Errorf("CPU error %q does not mention %q", snap.CPU.Err, tc.wantErr)
			}
		})
	}
}

// A caller's own client is used (a copy, its transport wrapped), and the
// caller's client is left as it was.
func TestHTTPClientIsUsedNotChanged(t *testing.T) {
	srv, got := authServer(t)
	var calls atomic.Int64
	own := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Custom x")
		return http.DefaultTransport.RoundTrip(r)
	})}
	cfg := cpuOnly(srv.URL)
	cfg.HTTPClient = own
	cfg.MaxResponseBytes = 10 // smaller than the answer: the bound applies to the caller's client too
	p, err := NewPrometheus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	snap, _ := p.Collect(context.Background())
	if calls.Load() == 0 || got.Load() != "Custom x" {
		t.Errorf("the caller's transport was not used: %d calls, Authorization %q", calls.Load(), got.Load())
	}
	if snap.CPU.OK || !strings.Contains(snap.CPU.Err.Error(), "MaxResponseBytes") {
		t.Errorf("CPU %v %v; want missing, the response over MaxResponseBytes", snap.CPU.OK, snap.CPU.Err)
	}
	if own.Transport == nil || own.CheckRedirect != nil {
		t.Error("the caller's client was changed")
	}
	if _, wrapped := own.Transport.(limitedTransport); wrapped {
		t.Error("the caller's transport was wrapped in place")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
