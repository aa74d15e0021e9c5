package upload

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// body is b for the client: read through the rate limiter, counted as
// sent. Call stop once the request returned: the HTTP transport may go
// on reading a body after that, and b goes back to the buffers.
func (u *Uploader) body(ctx context.Context, b []byte) *limitedReader {
	return &limitedReader{ctx: ctx, r: bytes.NewReader(b), l: &u.lim, count: u.st.sent}
}

// key returns j's object key, fixing it when no upload is under way
// (a multipart upload keeps the key it was started with).
func (u *Uploader) key(j *job, t Target) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if j.UploadID == "" {
		j.Key = t.objectKey(j.Rel, j.App, j.Stream, j.Start)
	}
	return j.Key
}

// putWhole uploads a segment no larger than a part in one PUT.
func (u *Uploader) putWhole(c *client, j *job, f *os.File) error {
	key := u.key(j, c.t)
	body := u.bufs.get(j.Size)
	defer u.bufs.put(body)
	if _, err := io.ReadFull(f, body); err != nil {
		return &Error{Reason: ReasonLocal, Err: fmt.Errorf("read %s: %w", j.Rel, err)}
	}
	s := sumOf(body)
	r := u.body(u.ctx, body)
	etag, err := c.put(u.ctx, key, r, int64(len(body)), s)
	r.stop()
	if err != nil {
		return err
	}
	want := hex.EncodeToString(s.md5[:])
	if strings.Trim(etag, `"`) != want {
		want = "" // not an MD5 ETag (SSE-KMS): the size is checked, Content-MD5 was
	}
	return u.verify(c, j, key, want)
}

// putMultipart uploads a segment in parts, resuming the journaled
// upload: parts acknowledged before (this run or an earlier one) are not
// sent again. Each acknowledged part is journaled before the next
// counts, so a crash loses at most the parts in flight.
func (u *Uploader) putMultipart(c *client, j *job, f *os.File, t Target) error {
	key := u.key(j, t)
	if j.UploadID == "" {
		id, err := c.start(u.ctx, key)
		if err != nil {
			return err
		}
		if err := u.update(j, func(j *job) { j.UploadID, j.PartSize, j.Parts = id, t.partSize(), nil }); err != nil {
			return err
		}
		u.log.Debug("multipart upload started", "path", j.Rel, "key", key, "part_size", j.PartSize)
	} else if len(j.Parts) > 0 {
		u.mu.Lock()
		resumed := j.acked()
		u.st.resumed += resumed
		u.mu.Unlock()
		u.log.Info("multipart upload resumed", "path", j.Rel, "key", key, "parts", len(j.Parts), "bytes_acked", resumed)
	}
	u.mu.Lock()
	id, size, ps := j.UploadID, j.Size, j.PartSize
	have := map[int]bool{}
	for _, p := range j.Parts {
		have[p.N] = true
	}
	u.mu.Unlock()
	nparts := int((size + ps - 1) / ps)
	todo := make(chan int, nparts)
	for n := 1; n <= nparts; n++ {
		if !have[n] {
			todo <- n
		}
	}
	close(todo)

	ctx, cancel := context.WithCancel(u.ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(t.concurrency(), nparts) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := u.bufs.get(ps) // one part per worker: memory is PartSize × Concurrency
			defer u.bufs.put(buf)
			for n := range todo {
				if ctx.Err() != nil {
					return
				}
				if err := u.sendPart(ctx, c, j, f, key, id, n, buf); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		if noSuchUpload(first) {
			u.update(j, func(j *job) { j.UploadID, j.Parts = "", nil })
		}
		return first
	}
	u.mu.Lock()
	parts := append([]part(nil), j.Parts...)
	u.mu.Unlock()
	sort.Slice(parts, func(a, b int) bool { return parts[a].N < parts[b].N })
	want := multipartETag(parts)
	for _, p := range parts {
		if p.ETag != p.MD5 {
			want = "" // the server's ETags are not MD5s: see sendPart
		}
	}
	if err := c.complete(u.ctx, key, id, parts); err != nil {
		if !noSuchUpload(err) {
			return err
		}
		// Completed already (the answer to an earlier complete was
		// lost), or forgotten: the object tells which.
		if verr := u.verify(c, j, key, want); verr == nil {
			return nil
		}
		u.update(j, func(j *job) { j.UploadID, j.Parts = "", nil })
		return err
	}
	return u.verify(c, j, key, want)
}

// sendPart reads part n into buf and uploads it, then journals it.
func (u *Uploader) sendPart(ctx context.Context, c *client, j *job, f *os.File, key, id string, n int, buf []byte) error {
	ps := int64(len(buf))
	off := int64(n-1) * ps
	size := min(ps, j.Size-off)
	body := buf[:size]
	if got, err := f.ReadAt(body, off); got < len(body) {
		return &Error{Reason: ReasonLocal, Err: fmt.Errorf("read %s at %d: %w", j.Rel, off, err)}
	}
	s := sumOf(body)
	r := u.body(ctx, body)
	etag, err := c.putPart(ctx, key, id, n, r, int64(len(body)), s)
	r.stop()
	if err != nil {
		return err
	}
	md5hex := hex.EncodeToString(s.md5[:])
	etag = strings.Trim(etag, `"`)
	if etag != md5hex {
		// The server checked the Content-MD5 (it refuses a body that does
		// not match with BadDigest); an ETag that is not the MD5 is a
		// server that makes them otherwise (SSE-KMS, data-integrity
		// ETags), and the object is then checked by its size alone.
		u.log.Debug("part ETag is not its MD5", "path", j.Rel, "part", n, "etag", etag, "md5", md5hex)
	}
	return u.update(j, func(j *job) { j.Parts = append(j.Parts, part{N: n, Size: size, MD5: md5hex, ETag: etag}) })
}

// multipartETag is the ETag S3 gives an object made of parts: the MD5 of
// the parts' MD5s, then "-" and the number of parts.
func multipartETag(parts []part) string {
	h := md5.New()
	for _, p := range parts {
		b, _ := hex.DecodeString(p.MD5)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// verify checks the object in the bucket against the file: size and
// ETag (etag "": a server whose ETags are not MD5-based, size alone). A
// mismatch starts the upload over on the next attempt.
func (u *Uploader) verify(c *client, j *job, key, etag string) error {
	size, got, err := c.stat(u.ctx, key)
	if err != nil {
		return err
	}
	if size == j.Size && (etag == "" || got == etag) {
		return nil
	}
	u.update(j, func(j *job) { j.UploadID, j.Parts = "", nil })
	return &Error{Reason: ReasonIntegrity, Err: fmt.Errorf("%s in the bucket is %d bytes with ETag %s; the file is %d bytes with ETag %s", key, size, got, j.Size, etag)}
}
