package hls

import "net/http"

func (s *Server) serveVOD(w http.ResponseWriter, r *http.Request, rest string) {
	httpError(w, http.StatusNotFound, "todo")
}
