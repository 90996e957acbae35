package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// certReloader holds the server's certificate and key pair, read from
// files that an operator (or cert-manager, or certbot) replaces in place:
// reload reads them again and swaps the pair atomically, and the
// tls.Config's GetCertificate serves whichever pair is current at each
// handshake. So a rotation needs no restart and drops no connection:
// connections already open keep the session they negotiated, new ones get
// the new certificate. A pair that does not load (missing, mismatched
// key, expired) leaves the current one in place.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]

	reloads *prometheus.CounterVec
	expiry  prometheus.GaugeFunc
}

// newCertReloader loads the pair once; an error here stops serve, as
// there is no previous certificate to fall back on.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	r.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infergate_tls_certificate_reloads_total",
		Help: "Reloads of the TLS certificate and key files (on SIGHUP), by outcome: success, or failure (the previous certificate is kept).",
	}, []string{"outcome"})
	for _, o := range []string{"success", "failure"} {
		r.reloads.WithLabelValues(o)
	}
	r.expiry = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "infergate_tls_certificate_expiry_timestamp_seconds",
		Help: "When the TLS certificate being served expires (its NotAfter), in seconds since the epoch: alert well before it.",
	}, func() float64 {
		if c := r.cert.Load(); c != nil && c.Leaf != nil {
			return float64(c.Leaf.NotAfter.Unix())
		}
		return 0
	})
	c, err := loadKeyPair(certFile, keyFile, time.Now())
	if err != nil {
		return nil, err
	}
	r.cert.Store(c)
	return r, nil
}

// loadKeyPair reads and checks a PEM certificate chain and its private
// key: the key must match the leaf, and the leaf must not have expired
// (serving one would only move the failure to every client).
func loadKeyPair(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	// LoadX509KeyPair fills Leaf since Go 1.23.
	if c.Leaf == nil {
		return nil, fmt.Errorf("loading TLS key pair %s: no leaf certificate", certFile)
	}
	if now.After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("TLS certificate %s expired at %s", certFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &c, nil
}

// reload reads the files again and serves the new pair from the next
// handshake on; on failure it keeps the current pair and returns why.
func (r *certReloader) reload() error {
	c, err := loadKeyPair(r.certFile, r.keyFile, time.Now())
	if err != nil {
		r.reloads.WithLabelValues("failure").Inc()
		return err
	}
	r.cert.Store(c)
	r.reloads.WithLabelValues("success").Inc()
	return nil
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// tlsConfig is the server's TLS configuration: TLS 1.2 at least (Go's
// default cipher suites, all with forward secrecy), and HTTP/1.1 offered
// by ALPN, as fasthttp speaks nothing else; a client that would prefer
// HTTP/2 then settles on HTTP/1.1 with keep-alive.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.getCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// collectors are the reloader's metrics, for the gateway's registry.
func (r *certReloader) collectors() []prometheus.Collector {
	return []prometheus.Collector{r.reloads, r.expiry}
}

// logCertificate logs what is being served, with when it expires.
func (r *certReloader) logCertificate(msg string) {
	leaf := r.cert.Load().Leaf
	r.log.Info(msg, "cert_file", r.certFile, "subject", leaf.Subject.String(), "dns_names", leaf.DNSNames,
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
}

// reloadOnSIGHUP reloads the pair at each SIGHUP until ctx is done. The
// signal is caught from before this returns, so that a SIGHUP sent once
// serve is up never takes the default action (ending the process).
func (r *certReloader) reloadOnSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := r.reload(); err != nil {
					r.log.Error("SIGHUP: reloading the TLS certificate failed; still serving the previous one", "error", err.Error())
					continue
				}
				r.logCertificate("SIGHUP: TLS certificate reloaded")
			}
		}
	}()
}

// checkTLSFlags says whether TLS is on, refusing half a configuration.
func checkTLSFlags(cert, key string) (bool, error) {
	switch {
	case cert == "" && key == "":
		return false, nil
	case cert == "" || key == "":
		return false, errors.New("--tls-cert and --tls-key go together: give both (HTTPS) or neither (plain HTTP)")
	}
	return true, nil
}
