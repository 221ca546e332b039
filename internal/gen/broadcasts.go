package gen

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/registers"
)

// broadcastType is an alert or notification type of an area pack.
type broadcastType struct {
	p *areas.Pack
	b *areas.Broadcast
}

// broadcasts makes alerts and notifications of measures, on the paths of
// their machines (internal/workflow/machines/alert.yaml,
// notification.yaml): validated and broadcast, disseminated in some
// receiving countries, acknowledged, commented, closed or withdrawn.
func (g *generator) broadcasts(ctx context.Context) error {
	n := g.s.Alerts
	var alertTypes, noticeTypes []broadcastType
	for _, p := range g.packs {
		for _, b := range p.Broadcasts {
			if b.Kind == areas.Alert {
				alertTypes = append(alertTypes, broadcastType{p, b})
			} else {
				noticeTypes = append(noticeTypes, broadcastType{p, b})
			}
		}
	}
	if n == 0 || len(alertTypes)+len(noticeTypes) == 0 {
		return nil
	}
	r := g.rng(3)
	until := g.s.Until
	span := 730 * 24 * time.Hour
	senders := map[string]*picker{}         // area → authorities with alert handlers
	recipients := map[string][]*authority{} // country/area → active authorities
	for _, a := range g.auths {
		if a.kind != authorities.CompetentAuthority || a.status != authorities.Active {
			continue
		}
		for _, area := range a.areas {
			if len(a.alertHandlers) > 0 {
				if senders[area] == nil {
					senders[area] = &picker{}
				}
				senders[area].add(a, 1)
			}
			recipients[a.country+"/"+area] = append(recipients[a.country+"/"+area], a)
		}
	}
	offsets := make([]int64, n)
	for i := range offsets {
		offsets[i] = r.Int64N(int64(span/time.Second) - 3600)
	}
	slices.Sort(offsets)
	current := countries.Current()
	for i, off := range offsets {
		created := until.Add(-span).Add(time.Duration(off) * time.Second)
		var bt broadcastType
		if len(noticeTypes) == 0 || len(alertTypes) > 0 && r.Float64() < 0.7 {
			bt = alertTypes[r.IntN(len(alertTypes))]
		} else {
			bt = noticeTypes[r.IntN(len(noticeTypes))]
		}
		var sender *authority
		if p := senders[bt.p.Code]; p != nil {
			sender = p.pick(r)
		} else {
			sender = g.national[current[r.IntN(len(current))].Code]
		}
		coord := g.national[sender.country]
		alert := bt.b.Kind == areas.Alert
		bid := id(r, created)
		year := created.Year()
		letter := "N"
		if alert {
			letter = "A"
		}
		ref := fmt.Sprintf("%s-%s-%d-%06d", strings.ToUpper(bt.p.Code), letter, year, g.next(fmt.Sprintf("%s/%s/%d", bt.b.Kind, bt.p.Code, year)))
		fields := map[string]string{}
		var personal []string
		for _, f := range bt.b.Fields {
			if !f.Required && r.Float64() < 0.4 {
				continue
			}
			var terms []string
			if v := bt.p.Vocabulary(f.Vocabulary); v != nil {
				for _, t := range v.AllTerms() {
					terms = append(terms, t.Value)
				}
			}
			fields[f.Code] = fieldValue(r, f.Code, f.Type, terms, i)
			if f.PersonalData {
				personal = append(personal, fields[f.Code])
			}
		}
		fieldsJSON, _ := json.Marshal(fields)
		var criteria []string
		for _, c := range bt.b.Criteria {
			criteria = append(criteria, c.Value)
		}
		sort.Strings(criteria)
		var targets []string
		chosen := ""
		if alert {
			for _, k := range r.Perm(len(current))[:2+r.IntN(4)] {
				if c := current[k].Code; c != sender.country {
					targets = append(targets, c)
				}
			}
			sort.Strings(targets)
			chosen = strings.Join(targets, " ")
		} else {
			for _, c := range current {
				if c.Code != sender.country {
					targets = append(targets, c.Code)
				}
			}
		}
		var events []event
		state, t := "draft", created
		add := func(action, to, user, authority, party, comment, data string) {
			from := state
			if action == "create" {
				from = ""
			}
			events = append(events, event{at: t, action: action, from: from, to: to, user: user, authority: authority, party: party, comment: comment, data: data})
			state = to
		}
		step := func(d time.Duration) bool { return advance(&t, until, d) }
		days := func(mean float64) time.Duration { return expDays(r, mean) }
		senderUser := sender.alertHandlers[0]
		var sentAt, commentUntil, closedAt any
		type receipt struct {
			country      string
			disseminated any
		}
		var receipts []receipt
		type recipient struct {
			a            *authority
			at           time.Time
			by           string
			ackBy, ackAt any
		}
		var reached []*recipient
		add("create", "draft", senderUser, sender.id, "sender", "", "")
		func() {
			if r.Float64() < 0.05 {
				return
			}
			if alert {
				if !step(days(0.2)) {
					return
				}
				add("submit", "awaiting_validation", senderUser, sender.id, "sender", "", "")
				if r.Float64() < 0.05 {
					return
				}
				if r.Float64() < 0.03 {
					if step(days(0.5)) {
						add("reject", "rejected", coord.coordinator, coord.id, "sender_coordinator", "The criteria for an alert are not met.", "")
						closedAt = t
					}
					return
				}
				if !step(days(0.5)) {
					return
				}
			} else if !step(days(0.5)) {
				return
			}
			data, _ := json.Marshal(map[string]any{"countries": targets})
			if alert {
				add("approve", "broadcast", coord.coordinator, coord.id, "sender_coordinator", "", string(data))
			} else {
				add("send", "broadcast", senderUser, sender.id, "sender", "", string(data))
				commentUntil = t.AddDate(0, 0, bt.b.CommentDays)
			}
			sentAt = t
			for _, c := range targets {
				receipts = append(receipts, receipt{country: c})
			}
			for k := range receipts {
				rc := &receipts[k]
				list := recipients[rc.country+"/"+bt.p.Code]
				if r.Float64() > 0.6 || len(list) == 0 || !step(days(1)) {
					continue
				}
				nc := g.national[rc.country]
				var added []string
				for range 1 + r.IntN(3) {
					a := list[r.IntN(len(list))]
					if a.id == sender.id || slices.ContainsFunc(reached, func(x *recipient) bool { return x.a == a }) {
						continue
					}
					reached = append(reached, &recipient{a: a, at: t, by: nc.coordinator})
					added = append(added, a.id)
				}
				if len(added) == 0 {
					continue
				}
				sort.Strings(added)
				data, _ := json.Marshal(map[string]any{"authorities": added})
				add("disseminate", state, nc.coordinator, nc.id, "recipient_coordinator", "", string(data))
				rc.disseminated = t
			}
			for _, x := range reached {
				if alert && len(x.a.alertHandlers) > 0 && r.Float64() < 0.6 && step(days(1)) {
					add("acknowledge", state, x.a.alertHandlers[0], x.a.id, "recipient", "", "")
					x.ackBy, x.ackAt = x.a.alertHandlers[0], t
				}
			}
			if !alert && len(receipts) > 0 && r.Float64() < 0.3 && step(days(10)) && t.Before(commentUntil.(time.Time)) {
				nc := g.national[receipts[r.IntN(len(receipts))].country]
				add("comment", state, nc.coordinator, nc.id, "recipient_coordinator", "Our national rules on this activity may be affected; we will send details.", "")
			}
			if alert && r.Float64() < 0.1 && step(days(5)) {
				add("update", state, senderUser, sender.id, "sender", "The measures were extended by the deciding authority.", "")
			}
			x := r.Float64()
			switch {
			case x < 0.45:
				return
			case alert && x < 0.53:
				if step(days(20)) {
					add("propose_withdrawal", "withdrawal_proposed", senderUser, sender.id, "sender", "The decision was annulled.", "")
					if step(days(2)) {
						add("withdraw", "withdrawn", coord.coordinator, coord.id, "sender_coordinator", "", "")
						closedAt = t
					}
				}
			case alert:
				if step(days(60)) {
					add("propose_closure", "closure_proposed", senderUser, sender.id, "sender", "The restriction has ended.", "")
					if step(days(3)) {
						add("close", "closed", coord.coordinator, coord.id, "sender_coordinator", "", "")
						closedAt = t
					}
				}
			case x < 0.5:
				if step(days(20)) {
					add("withdraw", "withdrawn", senderUser, sender.id, "sender", "The draft measure was abandoned.", "")
					closedAt = t
				}
			default:
				if step(days(100)) {
					add("close", "closed", senderUser, sender.id, "sender", "", "")
					closedAt = t
				}
			}
		}()
		last := events[len(events)-1].at
		message := ""
		if alert {
			message = "Made-up alert for load tests: the professional or provider named above is not real."
		}
		title := fmt.Sprintf("Generated %s %d (%s)", bt.b.Kind, i+1, bt.p.Code)
		if err := g.add(ctx, "broadcasts", bid, ref, bt.b.Kind, bt.p.Code, bt.b.Code, state, sender.id, senderUser, title, string(fieldsJSON), strings.Join(personal, " "),
			message, strings.Join(criteria, " "), !alert, chosen, sentAt, commentUntil, closedAt, last, created, last); err != nil {
			return err
		}
		for _, rc := range receipts {
			if err := g.add(ctx, "broadcast_countries", bid, rc.country, sentAt, rc.disseminated); err != nil {
				return err
			}
		}
		for _, x := range reached {
			if err := g.add(ctx, "broadcast_recipients", bid, x.a.id, x.a.country, x.by, x.at, x.ackBy, x.ackAt); err != nil {
				return err
			}
		}
		for k, e := range events {
			if err := g.add(ctx, "case_events", id(r, e.at), bid, k+1, e.at, e.action, e.from, e.to, e.user, e.authority, e.party, e.comment, e.data); err != nil {
				return err
			}
		}
		g.tick("alerts", i+1, n)
	}
	return g.b.commit(ctx)
}

// registers makes entries of the directory of registers, held by
// authorities of every country and named in their language and in
// English, as an import by the operator would (validated, mostly).
func (g *generator) registers(ctx context.Context) error {
	n := g.s.Registers
	if n == 0 {
		return nil
	}
	r := g.rng(4)
	var holders []*authority
	for _, a := range g.auths {
		if a.status != authorities.Deactivated && a.kind != authorities.Commission {
			holders = append(holders, a)
		}
	}
	until := g.s.Until
	en := g.d.Catalog.Localizer(i18n.Default)
	for i := 0; i < n; i++ {
		a := holders[r.IntN(len(holders))]
		t := until.AddDate(-2, 0, 0).Add(time.Duration(r.Int64N(int64(700 * 24 * time.Hour)))).Truncate(time.Second)
		typ := registers.Types[r.IntN(len(registers.Types))]
		local := g.d.Catalog.Localizer(a.lang).T("register_type_" + typ)
		rid := id(r, t)
		name := local + " — " + a.name
		status, validated := "validated", any(t)
		if r.Float64() < 0.1 {
			status, validated = "submitted", nil
		}
		areasList := slices.Clone(a.areas)
		sort.Strings(areasList)
		if err := g.add(ctx, "registers", rid, fmt.Sprintf("GEN-%d-R%07d", g.s.Seed, i+1), a.country, a.id, name, a.lang, local+": "+a.name, typ,
			registers.Accesses[r.IntN(len(registers.Accesses))], r.Float64() < 0.3, fmt.Sprintf("https://registers.example.eu/%s/gen-%d", strings.ToLower(a.country), i+1),
			"", a.lang, strings.Join(areasList, " "), status, validated, t, t); err != nil {
			return err
		}
		if a.lang != i18n.Default && a.nameEN != "" {
			if err := g.add(ctx, "register_names", rid, i18n.Default, en.T("register_type_"+typ)+" — "+a.nameEN); err != nil {
				return err
			}
		}
		if err := g.add(ctx, "register_history", id(r, t), rid, t, "", "created", "", name); err != nil {
			return err
		}
		g.tick("registers", i+1, n)
	}
	return g.b.commit(ctx)
}
