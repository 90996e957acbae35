package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfSigned is a certificate made in the test, PEM-encoded.
type selfSigned struct {
	leaf            *x509.Certificate
	certPEM, keyPEM []byte
}

// newSelfSigned makes an ECDSA P-256 certificate for 127.0.0.1 and
// localhost, valid from notBefore to notAfter.
func newSelfSigned(t *testing.T, cn string, notBefore, notAfter time.Time) selfSigned {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return selfSigned{leaf: leaf,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
}

// install writes the pair as a rotation would: each file to a temporary
// name, then renamed over the old one.
func install(t *testing.T, certFile, keyFile string, certPEM, keyPEM []byte) {
	t.Helper()
	for path, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(path+".new", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
}

// httpsGet fetches url with client and reports the serial of the
// certificate the connection presented and whether the connection was a
// reused keep-alive one.
func httpsGet(t *testing.T, client *http.Client, url string) (serial string, reused bool, body string) {
	t.Helper()
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.TLS == nil || resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
		t.Fatalf("GET %s: %s %s, TLS %v", url, resp.Proto, resp.Status, resp.TLS != nil)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.String(), reused, string(b)
}

// waitForLog waits until the server's logs hold msg more than n times.
func waitForLog(t *testing.T, srv *served, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(srv.logs.String(), msg) <= n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the logs:\n%s", msg, srv.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTLSServeAndReloadOnSIGHUP serves HTTPS from files, rotates them
// and sends the process a real SIGHUP: a new connection gets the new
// certificate while an open keep-alive connection carries on, and pairs
// that do not load leave the current certificate in place.
func TestTLSServeAndReloadOnSIGHUP(t *testing.T) {
	chat, _ := testModels(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	now := time.Now()
	first := newSelfSigned(t, "first", now.Add(-time.Hour), now.Add(24*time.Hour))
	second := newSelfSigned(t, "second", now.Add(-time.Hour), now.Add(48*time.Hour))
	install(t, certFile, keyFile, first.certPEM, first.keyPEM)

	srv := startServe(t, "--addr", "127.0.0.1:0", "--data-dir", "", "--chat-model", chat, "--embed-model", "",
		"--threads", "1", "--shutdown-timeout", "5s", "--tls-cert", certFile, "--tls-key", keyFile)
	defer srv.stop(t)
	base := "https://" + srv.addr

	roots := x509.NewCertPool()
	roots.AddCert(first.leaf)
	roots.AddCert(second.leaf)
	newClient := func() *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}}
	}
	kept := newClient() // holds one keep-alive connection throughout
	defer kept.CloseIdleConnections()

	if serial, _, _ := httpsGet(t, kept, base+"/healthz"); serial != first.leaf.SerialNumber.String() {
		t.Fatalf("served serial %s, want the first certificate's %s", serial, first.leaf.SerialNumber)
	}
	if serial, reused, _ := httpsGet(t, kept, base+"/v1/models"); !reused || serial != first.leaf.SerialNumber.String() {
		t.Fatalf("keep-alive: reused %v, serial %s", reused, serial)
	}

	// The handshake's terms: HTTP/1.1 by ALPN, nothing older than TLS 1.2.
	for _, tc := range []struct {
		name    string
		cfg     *tls.Config
		wantErr bool
		alpn    string
	}{
		{name: "h2 offered, http/1.1 chosen", cfg: &tls.Config{RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}}, alpn: "http/1.1"},
		{name: "TLS 1.3", cfg: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}},
		{name: "TLS 1.2", cfg: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12}},
		{name: "TLS 1.1 refused", cfg: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, wantErr: true},
		{name: "unknown certificate refused", cfg: &tls.Config{RootCAs: x509.NewCertPool()}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", srv.addr, tc.cfg)
			if tc.wantErr {
				if err == nil {
					c.Close()
					t.Fatal("the handshake succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.ConnectionState().NegotiatedProtocol; got != tc.alpn {
				t.Errorf("ALPN %q, want %q", got, tc.alpn)
			}
		})
	}

	install(t, certFile, keyFile, second.certPEM, second.keyPEM)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, srv, "SIGHUP: TLS certificate reloaded", 0)
	if serial, _, _ := httpsGet(t, newClient(), base+"/healthz"); serial != second.leaf.SerialNumber.String() {
		t.Fatalf("a new connection after the reload: serial %s, want the second certificate's %s", serial, second.leaf.SerialNumber)
	}
	if serial, reused, _ := httpsGet(t, kept, base+"/healthz"); !reused || serial != first.leaf.SerialNumber.String() {
		t.Fatalf("the open connection after the reload: reused %v, serial %s (want the first certificate's, on the same connection)", reused, serial)
	}

	// Pairs that do not load: each is logged, and the second stays served.
	other := newSelfSigned(t, "other", now.Add(-time.Hour), now.Add(time.Hour))
	expired := newSelfSigned(t, "expired", now.Add(-2*time.Hour), now.Add(-time.Hour))
	failures := 0
	for _, tc := range []struct {
		name          string
		cert, key     []byte
		removeKey     bool
		wantLogSubstr string
	}{
		{name: "key of another certificate", cert: second.certPEM, key: other.keyPEM, wantLogSubstr: "private key does not match"},
		{name: "not PEM", cert: []byte("not a certificate\n"), key: second.keyPEM, wantLogSubstr: "failed to find any PEM data"},
		{name: "half-written certificate", cert: second.certPEM[:len(second.certPEM)/2], key: second.keyPEM, wantLogSubstr: "loading TLS key pair"},
		{name: "expired", cert: expired.certPEM, key: expired.keyPEM, wantLogSubstr: "expired at"},
		{name: "key file missing", cert: second.certPEM, removeKey: true, wantLogSubstr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.removeKey {
				if err := os.Remove(keyFile); err != nil {
					t.Fatal(err)
				}
			} else {
				install(t, certFile, keyFile, tc.cert, tc.key)
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			waitForLog(t, srv, "reloading the TLS certificate failed", failures)
			failures++
			logs := srv.logs.String()
			last := logs[strings.LastIndex(logs, "reloading the TLS certificate failed"):]
			if line, _, _ := strings.Cut(last, "\n"); !strings.Contains(line, tc.wantLogSubstr) {
				t.Errorf("the failure's log line lacks %q: %s", tc.wantLogSubstr, line)
			}
			if serial, _, _ := httpsGet(t, newClient(), base+"/healthz"); serial != second.leaf.SerialNumber.String() {
				t.Errorf("after a failed reload: serial %s, want the second certificate's %s", serial, second.leaf.SerialNumber)
			}
		})
	}
	if _, reused, _ := httpsGet(t, kept, base+"/healthz"); !reused {
		t.Error("the keep-alive connection did not survive the reloads")
	}

	_, _, metrics := httpsGet(t, newClient(), base+"/metrics")
	for _, want := range []string{
		`infergate_tls_certificate_reloads_total{outcome="success"} 1`,
		fmt.Sprintf(`infergate_tls_certificate_reloads_total{outcome="failure"} %d`, failures),
		fmt.Sprintf(`infergate_tls_certificate_expiry_timestamp_seconds %g`, float64(second.leaf.NotAfter.Unix())),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestTLSFlags: half a TLS configuration, or a pair that does not load,
// stops serve before it loads a model, with a message naming the flags.
func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	now := time.Now()
	good := newSelfSigned(t, "good", now.Add(-time.Hour), now.Add(time.Hour))
	other := newSelfSigned(t, "other", now.Add(-time.Hour), now.Add(time.Hour))
	install(t, certFile, keyFile, good.certPEM, other.keyPEM)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "cert only", args: []string{"--tls-cert", certFile}, want: "--tls-cert and --tls-key go together"},
		{name: "key only", args: []string{"--tls-key", keyFile}, want: "--tls-cert and --tls-key go together"},
		{name: "key only from the environment", env: map[string]string{"INFERGATE_TLS_KEY": keyFile}, want: "go together"},
		{name: "mismatched pair from the environment", env: map[string]string{"INFERGATE_TLS_CERT": certFile, "INFERGATE_TLS_KEY": keyFile},
			want: "private key does not match"},
		{name: "missing files", args: []string{"--tls-cert", certFile + ".x", "--tls-key", keyFile + ".x"}, want: "--tls-cert/--tls-key: loading TLS key pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb lockedBuffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", "", "--chat-model", "", "--embed-model", ""}, tc.args...)
			code := run(context.Background(), args, &out, &errb, func(k string) string { return tc.env[k] })
			if code != 1 || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, want 1 with %q:\n%s", code, tc.want, errb.String())
			}
		})
	}
}
