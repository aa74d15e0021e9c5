package appliance

import "net/http"

// newHTTPServer is the API's server with every bound a client could
// otherwise stretch: header time and size here, body time and size in
// limitBody, the number of connections by http.max_connections.
func (a *Appliance) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           a.apiHandler(),
		ReadHeaderTimeout: apiHeaderTimeout,
		IdleTimeout:       apiIdleTimeout,
		MaxHeaderBytes:    apiMaxHeaderBytes,
	}
}
