package sandbox

import (
	"context"
	"database/sql"
	"errors"
)

// The catalog and ledger lookups shared by the handlers, the planner and the engine.

// dpType and eventType are the fixed catalog of data point and event types, read once at Open.
type dpType struct {
	ID          int64
	Slug        string
	Name        string
	Unit        *string
	ValueType   string
	Category    string
	Subcategory string
	EventTypeID int64
}

type eventType struct {
	ID       int64
	Slug     string
	Name     string
	IsStatic bool
}

type catalog struct {
	types       map[int64]*dpType
	typeBySlug  map[string]*dpType
	events      map[int64]*eventType
	eventBySlug map[string]*eventType
}

func loadCatalog(ctx context.Context, db *sql.DB) (*catalog, error) {
	c := &catalog{types: map[int64]*dpType{}, typeBySlug: map[string]*dpType{}, events: map[int64]*eventType{}, eventBySlug: map[string]*eventType{}}
	rows, err := db.QueryContext(ctx, `SELECT id, slug, name, is_static FROM event_types`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		et := &eventType{}
		if err := rows.Scan(&et.ID, &et.Slug, &et.Name, &et.IsStatic); err != nil {
			rows.Close()
			return nil, err
		}
		c.events[et.ID], c.eventBySlug[et.Slug] = et, et
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT id, slug, name, unit, value_type, category, subcategory, COALESCE(event_type_id, 0) FROM data_point_types`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		t := &dpType{}
		var unit sql.NullString
		if err := rows.Scan(&t.ID, &t.Slug, &t.Name, &unit, &t.ValueType, &t.Category, &t.Subcategory, &t.EventTypeID); err != nil {
			return nil, err
		}
		if unit.Valid {
			t.Unit = &unit.String
		}
		c.types[t.ID], c.typeBySlug[t.Slug] = t, t
	}
	return c, rows.Err()
}

func (c *catalog) eventTypeIDs(slugs []string) []int64 {
	var ids []int64
	for _, s := range slugs {
		if et := c.eventBySlug[s]; et != nil {
			ids = append(ids, et.ID)
		}
	}
	return ids
}

func (c *catalog) unitOf(slug string) string {
	if t := c.typeBySlug[slug]; t != nil && t.Unit != nil {
		return *t.Unit
	}
	return ""
}

// ledgerRow is a ledger with its linked model.
type ledgerRow struct {
	ID, ProjectID    int64
	FriendlyID, Name string
	Unit             sql.NullString
	SystemLedgerType sql.NullString
	PartitionType    sql.NullString
	Cadence          sql.NullString
	ModelID          sql.NullInt64
	ModelFriendlyID  sql.NullString
	ModelName        sql.NullString
	ModelKind        sql.NullString
	RunGroup         sql.NullString
	CreatedAt        int64
	UpdatedAt        int64
}

const ledgerSelect = `SELECT l.id, l.project_id, l.friendly_id, l.name, l.unit, l.system_ledger_type, l.partition_type,
	l.cadence, l.model_id, m.friendly_id, m.name, m.kind, l.run_group, l.created_at, l.updated_at
	FROM ledgers l LEFT JOIN models m ON m.id = l.model_id`

func scanLedger(sc interface{ Scan(...any) error }) (*ledgerRow, error) {
	l := &ledgerRow{}
	err := sc.Scan(&l.ID, &l.ProjectID, &l.FriendlyID, &l.Name, &l.Unit, &l.SystemLedgerType, &l.PartitionType,
		&l.Cadence, &l.ModelID, &l.ModelFriendlyID, &l.ModelName, &l.ModelKind, &l.RunGroup, &l.CreatedAt, &l.UpdatedAt)
	return l, err
}

// ledgerByFriendlyID returns the project's ledger, or nil when it is unknown or another project's.
func ledgerByFriendlyID(ctx context.Context, q queryer, projectID int64, friendly string) (*ledgerRow, error) {
	l, err := scanLedger(q.QueryRowContext(ctx, ledgerSelect+` WHERE l.friendly_id = ? AND l.project_id = ?`, friendly, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return l, err
}

// visibleLedger returns the ledger if the token sees its project, or nil when it is
// unknown or a project's the token does not see.
func visibleLedger(ctx context.Context, q queryer, p principal, friendly string) (*ledgerRow, error) {
	l, err := scanLedger(q.QueryRowContext(ctx, ledgerSelect+` WHERE l.friendly_id = ?`, friendly))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !p.sees(l.ProjectID)) {
		return nil, nil
	}
	return l, err
}

func ledgerByID(ctx context.Context, q queryer, id int64) (*ledgerRow, error) {
	return scanLedger(q.QueryRowContext(ctx, ledgerSelect+` WHERE l.id = ?`, id))
}

// ledgerGroup is the ledger plus the ledgers whose models run concurrently with its model
// (same run_group), requested ledger first. Only ledgers with a model take part.
func ledgerGroup(ctx context.Context, q queryer, l *ledgerRow) ([]*ledgerRow, error) {
	group := []*ledgerRow{l}
	if !l.RunGroup.Valid || l.RunGroup.String == "" || !l.ModelID.Valid {
		return group, nil
	}
	rows, err := q.QueryContext(ctx, ledgerSelect+` WHERE l.project_id = ? AND l.run_group = ? AND l.id <> ? AND l.model_id IS NOT NULL ORDER BY l.id`,
		l.ProjectID, l.RunGroup.String, l.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanLedger(rows)
		if err != nil {
			return nil, err
		}
		group = append(group, o)
	}
	return group, rows.Err()
}
