package stats

import (
	"fmt"
	"strconv"
	"strings"
)

// Threshold rates an indicator: green when it reaches Green, amber when it
// reaches Amber, red otherwise. For indicators where less is better
// (Lower), "reaches" means "is below".
type Threshold struct {
	Green, Amber float64
	Lower        bool
}

func (t Threshold) rate(c Cell) string {
	if c.Null {
		return ""
	}
	ok := func(limit float64) bool {
		if t.Lower {
			return c.Value < limit
		}
		return c.Value >= limit
	}
	switch {
	case ok(t.Green):
		return "green"
	case ok(t.Amber):
		return "amber"
	}
	return "red"
}

// Thresholds are the scoreboard's, one per indicator.
type Thresholds struct {
	Accepted, Days, OnTime, Negative Threshold
}

// DefaultThresholds is the setting's default: accepted within 7 days
// ≥ 80% green, ≥ 60% amber; average days < 16 green, < 30 amber; answered
// by the agreed date ≥ 80% green, ≥ 60% amber; negative ratings < 5%
// green, < 10% amber.
const DefaultThresholds = "accepted=80:60,days=16:30,on_time=80:60,negative=5:10"

// ParseThresholds reads "accepted=80:60,days=16:30,on_time=80:60,negative=5:10":
// per indicator its green and amber limits. Indicators left out keep
// their default.
func ParseThresholds(s string) (Thresholds, error) {
	t := Thresholds{
		Accepted: Threshold{80, 60, false}, Days: Threshold{16, 30, true},
		OnTime: Threshold{80, 60, false}, Negative: Threshold{5, 10, true},
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, limits, ok := strings.Cut(part, "=")
		g, a, ok2 := strings.Cut(limits, ":")
		green, err1 := strconv.ParseFloat(g, 64)
		amber, err2 := strconv.ParseFloat(a, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil {
			return t, fmt.Errorf("scoreboard thresholds: %q is not name=green:amber", part)
		}
		var th *Threshold
		switch name {
		case "accepted":
			th = &t.Accepted
		case "days":
			th = &t.Days
		case "on_time":
			th = &t.OnTime
		case "negative":
			th = &t.Negative
		default:
			return t, fmt.Errorf("scoreboard thresholds: unknown indicator %q (accepted, days, on_time, negative)", name)
		}
		if th.Lower && amber < green || !th.Lower && amber > green {
			return t, fmt.Errorf("scoreboard thresholds: %s: amber %v must be less strict than green %v", name, amber, green)
		}
		th.Green, th.Amber = green, amber
	}
	return t, nil
}
