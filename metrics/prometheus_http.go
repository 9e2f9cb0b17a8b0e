package metrics

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// BasicAuth is HTTP basic authentication for the Prometheus connection.
type BasicAuth struct {
	// Username is required.
	Username string
	// Password, or PasswordFile: a file holding it (a mounted secret),
	// read again for every request so that a rotated password is used
	// at once. At most one of the two; neither means an empty password.
	Password     string
	PasswordFile string
}

// TLSConfig is the TLS side of an https Prometheus connection. The zero
// value verifies the server against the system's roots.
type TLSConfig struct {
	// CAFile is a PEM bundle of the certificate authorities that sign the
	// server's certificate (a private CA); CA is the same bundle given
	// inline. They replace the system's roots. Read once, by NewPrometheus.
	CAFile string
	CA     []byte
	// CertFile and KeyFile are a client certificate and its key (PEM),
	// for servers that require one. Both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name the server's certificate is checked
	// against (default: the URL's host).
	ServerName string
	// InsecureSkipVerify accepts any certificate the server presents.
	// For labs only: anyone on the path can then read the queries and
	// the credentials sent with them.
	InsecureSkipVerify bool
}

// clientSettings are the settings of Config that build the HTTP client,
// for error messages.
const clientSettings = "BearerToken, BearerTokenFile, BasicAuth, TLS"

// HTTPClient returns the HTTP client NewPrometheus builds from cfg's
// BearerToken, BearerTokenFile, BasicAuth and TLS (or its HTTPClient), so
// that another program reading the same server (the simulator's
// -prometheus) authenticates as the autoscaler does. Only those fields of
// cfg are read; every problem with them is reported, naming the field.
func HTTPClient(cfg Config) (*http.Client, error) {
	c, errs := httpClient(&cfg)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics.Prometheus config: %w", err)
	}
	return c, nil
}

// httpClient builds the client from cfg's authentication and TLS
// settings, or copies cfg.HTTPClient. It checks that the files it names
// can be read now. The returned client's transport is not yet bounded in
// its responses' size.
func httpClient(cfg *Config) (*http.Client, []error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	own := cfg.BearerToken != "" || cfg.BearerTokenFile != "" || cfg.BasicAuth != nil || !cfg.TLS.isZero()
	if cfg.HTTPClient != nil {
		if own {
			bad("HTTPClient replaces %s: set either, not both", clientSettings)
			return nil, errs
		}
		c := *cfg.HTTPClient // a copy: the caller's client is not changed
		if c.Transport == nil {
			c.Transport = http.DefaultTransport
		}
		return &c, nil
	}

	var auth func(*http.Request) error
	switch {
	case cfg.BasicAuth != nil && (cfg.BearerToken != "" || cfg.BearerTokenFile != ""):
		bad("BasicAuth and BearerToken/BearerTokenFile: set at most one")
	case cfg.BearerToken != "" && cfg.BearerTokenFile != "":
		bad("BearerToken and BearerTokenFile: set at most one")
	case cfg.BearerToken != "":
		token := cfg.BearerToken
		auth = func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+token); return nil }
	case cfg.BearerTokenFile != "":
		file := cfg.BearerTokenFile
		if _, err := readSecret(file); err != nil {
			bad("BearerTokenFile: %w", err)
		}
		auth = func(r *http.Request) error {
			token, err := readSecret(file)
			if err != nil {
				return fmt.Errorf("bearer token: %w", err)
			}
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		}
	case cfg.BasicAuth != nil:
		ba := *cfg.BasicAuth
		if ba.Username == "" {
			bad("BasicAuth.Username is required")
		}
		if ba.Password != "" && ba.PasswordFile != "" {
			bad("BasicAuth.Password and BasicAuth.PasswordFile: set at most one")
		} else if ba.PasswordFile != "" {
			if _, err := readSecret(ba.PasswordFile); err != nil {
				bad("BasicAuth.PasswordFile: %w", err)
			}
		}
		auth = func(r *http.Request) error {
			pw := ba.Password
			if ba.PasswordFile != "" {
				var err error
				if pw, err = readSecret(ba.PasswordFile); err != nil {
					return fmt.Errorf("basic auth password: %w", err)
				}
			}
			r.SetBasicAuth(ba.Username, pw)
			return nil
		}
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tc, terrs := cfg.TLS.build()
	for _, err := range terrs {
		bad("TLS.%w", err)
	}
	tr.TLSClientConfig = tc
	var rt http.RoundTripper = tr
	if auth != nil {
		rt = authTransport{rt: tr, auth: auth}
	}
	return &http.Client{Transport: rt}, errs
}

// isZero reports whether t asks for nothing (TLSConfig holds a slice, so
// == cannot tell).
func (t TLSConfig) isZero() bool {
	return t.CAFile == "" && len(t.CA) == 0 && t.CertFile == "" && t.KeyFile == "" && t.ServerName == "" && !t.InsecureSkipVerify
}

// build returns the tls.Config; errors name the field (after "TLS.").
func (t TLSConfig) build() (*tls.Config, []error) {
	var errs []error
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" && len(t.CA) > 0 {
		errs = append(errs, errors.New("CAFile and CA: set at most one"))
	}
	pem, name := t.CA, "CA"
	if t.CAFile != "" {
		name = "CAFile"
		var err error
		if pem, err = os.ReadFile(t.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("CAFile: %w", err))
		}
	}
	if len(pem) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			errs = append(errs, fmt.Errorf("%s: no PEM certificate found", name))
		}
		tc.RootCAs = pool
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		errs = append(errs, errors.New("CertFile and KeyFile: set both or neither"))
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("CertFile/KeyFile: %w", err))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, errs
}

// readSecret reads a credential from a file, without the trailing
// newline editors and `kubectl create secret --from-file` leave.
func readSecret(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return s, nil
}

// authTransport adds credentials to every request, on a copy of it (a
// RoundTripper must not change the caller's request).
type authTransport struct {
	rt   http.RoundTripper
	auth func(*http.Request) error
}

func (a authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if err := a.auth(r); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return a.rt.RoundTrip(r)
}

// CloseIdleConnections passes the call on (http.Client.CloseIdleConnections
// reaches the transport only through this method).
func (a authTransport) CloseIdleConnections() { closeIdle(a.rt) }

// closeIdle drops rt's idle connections when it can.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
