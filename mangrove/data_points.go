package mangrove

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// DataPoint is one measured value (in_… id; dp_… for model outputs).
type DataPoint struct {
	ID            string          `json:"id"`
	Slug          string          `json:"slug"`            // data point type slug
	DataPointType string          `json:"data_point_type"` // data point type display name
	Value         json.RawMessage `json:"value"`           // number, string or boolean; nil when null
	Unit          *string         `json:"unit"`            // nil when the value is not a number
	Status        string          `json:"status"`          // complete, incomplete, pending
	// EventID and StartTime come with GET /projects/{id}/data_points, where there is no
	// surrounding event to tell which one a data point belongs to and when.
	EventID   string     `json:"event_id,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

// UnmarshalJSON decodes a data point, reading a null value as nil.
func (d *DataPoint) UnmarshalJSON(b []byte) error {
	type plain DataPoint
	if err := json.Unmarshal(b, (*plain)(d)); err != nil {
		return err
	}
	d.Value = nullToNil(d.Value)
	return nil
}

// DataPoints returns one page of GET /projects/{projectID}/data_points.
func (c *Client) DataPoints(ctx context.Context, token string, projectID int64, opts ListOptions) (*List[DataPoint], error) {
	q, err := opts.query()
	if err != nil {
		return nil, err
	}
	path := "/projects/" + strconv.FormatInt(projectID, 10) + "/data_points"
	return getList[DataPoint](ctx, c, token, call{method: http.MethodGet, path: path, query: q})
}
