package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Nginx is nginx with libnginx-mod-rtmp, running in the foreground as a
// child of the test, with an application "live".
type Nginx struct {
	t        testing.TB
	bin, dir string
	// RTMPPort is nginx-rtmp's port on 127.0.0.1.
	RTMPPort int
	// TLSPort is the RTMPS port (nginx's stream module terminating TLS in
	// front of RTMPPort); 0 without TLS.
	TLSPort int
	// CAPool holds the test CA that signed the TLS certificate.
	CAPool *x509.CertPool
	// CAFile is that CA as a PEM file (e.g. for relay.ca_file).
	CAFile string
	// StartedAt is when nginx last began accepting connections.
	StartedAt time.Time

	mu      sync.Mutex
	cmd     *exec.Cmd
	cmdDone chan struct{}
}

const (
	nginxRTMPModule   = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"
)

// StartNginx runs nginx-rtmp on 127.0.0.1 with an application "live"; with
// tls, nginx's stream module also terminates TLS (a certificate for
// localhost and 127.0.0.1 from a test CA) in front of it.
func StartNginx(t testing.TB, withTLS bool) *Nginx {
	t.Helper()
	return startNginx(t, withTLS, "live on; wait_key on; wait_video on;")
}

// startNginx is StartNginx with the directives of the application "live".
func startNginx(t testing.TB, withTLS bool, liveApp string) *Nginx {
	t.Helper()
	n := &Nginx{t: t, bin: NeedTool(t, "nginx"), dir: t.TempDir(), RTMPPort: FreePort(t)}
	NeedFile(t, nginxRTMPModule, "libnginx-mod-rtmp")
	var conf strings.Builder
	fmt.Fprintf(&conf, "load_module %s;\n", nginxRTMPModule)
	if withTLS {
		NeedFile(t, nginxStreamModule, "libnginx-mod-stream")
		fmt.Fprintf(&conf, "load_module %s;\n", nginxStreamModule)
	}
	fmt.Fprintf(&conf, `worker_processes 1;
daemon off;
master_process off;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events {}
rtmp {
	server {
		listen 127.0.0.1:%[2]d;
		application live { %[3]s }
	}
}
`, n.dir, n.RTMPPort, liveApp)
	if withTLS {
		n.TLSPort = FreePort(t)
		var cert, key string
		n.CAPool, n.CAFile, cert, key = MakeCerts(t, n.dir)
		fmt.Fprintf(&conf, `stream {
	server {
		listen 127.0.0.1:%d ssl;
		ssl_certificate %s;
		ssl_certificate_key %s;
		proxy_pass 127.0.0.1:%d;
	}
}
`, n.TLSPort, cert, key, n.RTMPPort)
	}
	if err := os.WriteFile(filepath.Join(n.dir, "nginx.conf"), []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
			t.Logf("nginx error.log (tail):\n%s", Tail(string(b), 30))
		}
	})
	return n
}

// Start runs nginx (again, after Kill) and waits until it accepts
// connections.
func (n *Nginx) Start() {
	n.t.Helper()
	out := &SyncBuf{}
	cmd := exec.Command(n.bin, "-c", filepath.Join(n.dir, "nginx.conf"), "-p", n.dir+"/")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("nginx: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	n.mu.Lock()
	n.cmd, n.cmdDone = cmd, done
	n.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.RTMPPort), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			n.t.Fatalf("nginx exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nginx not accepting on %d: %v; %s", n.RTMPPort, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.StartedAt = time.Now()
}

// Kill stops nginx abruptly (SIGKILL), as a crash or a lost uplink would.
func (n *Nginx) Kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.cmdDone
	n.cmd = nil
	n.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		<-done
	}
}

// ErrorLog returns nginx's error.log so far (info level: nginx-rtmp
// logs every connect, publish and play there).
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return string(b)
}

// URL is the RTMP address of a stream of the "live" application.
func (n *Nginx) URL(stream string) string {
	return fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", n.RTMPPort, stream)
}

// MakeCerts writes to dir a test CA (ca.pem) and a server certificate for
// localhost and 127.0.0.1 signed by it (server.pem, server.key); it
// returns the CA as a pool and the three PEM files.
func MakeCerts(t testing.TB, dir string) (pool *x509.CertPool, caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tapedeck test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	for _, f := range []struct {
		name string
		blk  *pem.Block
		perm os.FileMode
	}{
		{caFile, &pem.Block{Type: "CERTIFICATE", Bytes: caDER}, 0o644},
		{certFile, &pem.Block{Type: "CERTIFICATE", Bytes: srvDER}, 0o644},
		{keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}, 0o600},
	} {
		if err := os.WriteFile(f.name, pem.EncodeToMemory(f.blk), f.perm); err != nil {
			t.Fatal(err)
		}
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return pool, caFile, certFile, keyFile
}
