package mangrove

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Event is one recorded event of a project (evt_… id) with its data points, as
// GET /projects/{id}/events lists it. Locations and evidences are not decoded: nothing
// the dashboard shows reads them.
type Event struct {
	ID         string      `json:"id"`
	Slug       string      `json:"slug"`       // event type slug
	EventType  string      `json:"event_type"` // event type display name
	TrackingID *string     `json:"tracking_id"`
	StartTime  time.Time   `json:"start_time"`
	EndTime    time.Time   `json:"end_time"`
	DataPoints []DataPoint `json:"data_points"`
}

// ProjectEvents returns one page of GET /projects/{projectID}/events. The documented
// sort fields include start_time; no time filter is documented.
func (c *Client) ProjectEvents(ctx context.Context, token string, projectID int64, opts ListOptions) (*List[Event], error) {
	q, err := opts.query()
	if err != nil {
		return nil, err
	}
	path := "/projects/" + strconv.FormatInt(projectID, 10) + "/events"
	return getList[Event](ctx, c, token, call{method: http.MethodGet, path: path, query: q})
}
