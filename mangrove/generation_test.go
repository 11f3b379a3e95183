package mangrove

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestGenerationRequestBodies(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		call func(c *Client) error
		want string
	}{
		{
			name: "PreviewMinimal",
			call: func(c *Client) error {
				_, err := c.PreviewGeneration(context.Background(), testToken, "lgr_x", PreviewRequest{
					StartTime: time.Date(2025, 1, 1, 1, 0, 0, 0, paris), // midnight UTC
					EndTime:   time.Date(2025, 3, 31, 23, 59, 59, 999_000_000, time.UTC),
				})
				return err
			},
			want: `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z"}`,
		},
		{
			name: "PreviewWithDataPoints",
			call: func(c *Client) error {
				_, err := c.PreviewGeneration(context.Background(), testToken, "lgr_x", PreviewRequest{
					StartTime: ts("2025-01-01T00:00:00Z"), EndTime: ts("2025-03-31T23:59:59Z"),
					DataPointIDs: []string{"in_abc123", "in_def456"},
				})
				return err
			},
			want: `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z","data_point_ids":["in_abc123","in_def456"]}`,
		},
		{
			name: "GenerationMinimal",
			call: func(c *Client) error {
				_, err := c.StartGeneration(context.Background(), testToken, "lgr_x", GenerationRequest{
					StartTime: ts("2025-01-01T00:00:00Z"), EndTime: ts("2025-03-31T23:59:59Z"),
					DataPointIDs: []string{}, BatchAmounts: []BatchAmount{}, SkippedDataPointTypeIDs: []int64{},
				})
				return err
			},
			want: `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z"}`,
		},
		{
			name: "GenerationFull",
			call: func(c *Client) error {
				_, err := c.StartGeneration(context.Background(), testToken, "lgr_x", GenerationRequest{
					StartTime:    ts("2025-01-01T00:00:00Z"),
					EndTime:      ts("2025-03-31T23:59:59Z"),
					DataPointIDs: []string{"in_abc123"},
					BatchAmounts: []BatchAmount{
						{BatchID: "bat_abc123def456", PrimaryOutputAmount: 12.5, AllocationGroup: ptr("group-a")},
						{BatchID: "bat_newbatch001", PrimaryOutputAmount: 0},
					},
					SkippedDataPointTypeIDs: []int64{5, 42},
				})
				return err
			},
			want: `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z","data_point_ids":["in_abc123"],` +
				`"batch_amounts":[{"batch_id":"bat_abc123def456","primary_output_amount":12.5,"allocation_group":"group-a"},` +
				`{"batch_id":"bat_newbatch001","primary_output_amount":0}],"skipped_data_point_type_ids":[5,42]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body string
			c := NewClient("http://mangrove.test/api/v1", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				b, _ := io.ReadAll(r.Body)
				body = string(b)
				if r.Method != http.MethodPost {
					t.Errorf("method = %s", r.Method)
				}
				return fakeResponse(202, `{"id":456,"state":"pending","data":[]}`), nil
			})}))
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			if body != tt.want {
				t.Errorf("body\n got %s\nwant %s", body, tt.want)
			}
		})
	}
}

// TestPostsNeverRetried: a POST that may have created batches must not be sent twice,
// whatever went wrong.
func TestPostsNeverRetried(t *testing.T) {
	fails := map[string]func(t *testing.T, w http.ResponseWriter, r *http.Request){
		"503": func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 503, `{"message":"Service unavailable"}`)
		},
		"429": func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 429, `{"message":"Too many requests"}`)
		},
		"504": func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(504)
		},
		"DroppedConnection": func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			dropConnection(t, w)
		},
	}
	wantUnknown := map[string]bool{"503": false, "429": false, "504": true, "DroppedConnection": true}
	calls := map[string]func(c *Client) error{
		"StartGeneration": func(c *Client) error {
			_, err := c.StartGeneration(context.Background(), testToken, "lgr_x", GenerationRequest{StartTime: ts("2025-01-01T00:00:00Z"), EndTime: ts("2025-01-31T23:59:59Z")})
			return err
		},
		"PreviewGeneration": func(c *Client) error {
			_, err := c.PreviewGeneration(context.Background(), testToken, "lgr_x", PreviewRequest{StartTime: ts("2025-01-01T00:00:00Z"), EndTime: ts("2025-01-31T23:59:59Z")})
			return err
		},
	}
	for failName, fail := range fails {
		for callName, call := range calls {
			t.Run(callName+"/"+failName, func(t *testing.T) {
				srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) { fail(t, w, r) })
				// Default transport with keep-alives: net/http's own resend logic must not
				// send the POST twice either.
				c := NewClient(srv.baseURL(), WithRateLimit(0), WithRetry(4, time.Millisecond, time.Millisecond))
				err := call(c)
				if err == nil {
					t.Fatal("no error")
				}
				if got := srv.hits.Load(); got != 1 {
					t.Errorf("attempts = %d, want 1", got)
				}
				if failName != "429" && !errors.Is(err, ErrUnavailable) {
					t.Errorf("error %v, want ErrUnavailable", err)
				}
				if got := IsUnknownOutcome(err); got != wantUnknown[failName] {
					t.Errorf("IsUnknownOutcome = %v, want %v (err %v)", got, wantUnknown[failName], err)
				}
			})
		}
	}
}

func TestStartGenerationUnknownOutcome(t *testing.T) {
	t.Run("TimeoutAfterSending", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		})
		c, _ := newTestClient(t, srv.baseURL(), WithTimeout(100*time.Millisecond))
		_, err := c.StartGeneration(context.Background(), testToken, "lgr_x", GenerationRequest{StartTime: ts("2025-01-01T00:00:00Z"), EndTime: ts("2025-01-31T23:59:59Z")})
		if !IsUnknownOutcome(err) {
			t.Errorf("IsUnknownOutcome(%v) = false, want true", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("error %v, want DeadlineExceeded and ErrUnavailable", err)
		}
		if srv.hits.Load() != 1 {
			t.Errorf("attempts = %d, want 1", srv.hits.Load())
		}
	})
	t.Run("ConnectionRefusedIsKnown", func(t *testing.T) {
		c, _ := newTestClient(t, closedServerURL(t))
		_, err := c.StartGeneration(context.Background(), testToken, "lgr_x", GenerationRequest{})
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("error %v, want ErrUnavailable", err)
		}
		if IsUnknownOutcome(err) {
			t.Errorf("IsUnknownOutcome(%v) = true: nothing was sent", err)
		}
	})
	t.Run("AcceptedButUnreadable", func(t *testing.T) {
		for _, body := range []string{`{"id":`, `{}`, ``} {
			c := NewClient("http://mangrove.test/api/v1", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return fakeResponse(202, body), nil
			})}))
			_, err := c.StartGeneration(context.Background(), testToken, "lgr_x", GenerationRequest{})
			if err == nil || !IsUnknownOutcome(err) {
				t.Errorf("body %q: IsUnknownOutcome(%v) = false, want true", body, err)
			}
		}
	})
	t.Run("TransportWithoutTraceIsUnknown", func(t *testing.T) {
		// A transport that reports no progress gives no proof that nothing was sent.
		c := NewClient("http://mangrove.test/api/v1", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, io.ErrUnexpectedEOF
		})}))
		_, err := c.StartGeneration(context.Background(), testToken, "lgr_x", GenerationRequest{})
		if !IsUnknownOutcome(err) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("error %v: want unknown outcome wrapping the cause", err)
		}
	})
	t.Run("ValidationIsKnown", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 422, `{"message":"End time must be after start time"}`)
		})
		c, _ := newTestClient(t, srv.baseURL())
		_, err := c.StartGeneration(context.Background(), testToken, "lgr_x", GenerationRequest{})
		if !errors.Is(err, ErrValidation) || IsUnknownOutcome(err) {
			t.Errorf("error %v: want ErrValidation, known outcome", err)
		}
	})
}
