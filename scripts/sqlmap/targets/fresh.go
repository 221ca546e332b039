package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/requests"
)

// Each target that acts on a request, an alert or a measure gets an object
// of its own, in the state of the one its form was found on. sqlmap sends
// a few hundred requests per parameter, and those that succeed add to the
// object's timeline: on a shared object the pages grow to hundreds of
// kilobytes, which sqlmap compares slowly, and each target would find the
// object in whatever state the one before left it.

// actors are the demonstration parties that create the fresh objects.
type actors struct {
	anna, eleni, claire, frCoordinator authorities.Actor
}

func (e *environment) loadActors(ctx context.Context) error {
	actor := func(email string) (authorities.Actor, error) {
		u, err := e.a.Auth.UserByEmail(ctx, email)
		if err != nil {
			return authorities.Actor{}, err
		}
		return e.a.Authorities.ActorFor(ctx, u.ID)
	}
	var err error
	if e.actors.anna, err = actor(anna); err != nil {
		return err
	}
	if e.actors.eleni, err = actor(eleni); err != nil {
		return err
	}
	if e.actors.claire, err = actor(claire); err != nil {
		return err
	}
	// France's coordinator has no demonstration account: it validates
	// Claire's alerts as the system, as the demonstration data does.
	list, _, err := e.a.Authorities.List(ctx, authorities.Filter{Country: "FR", Kind: authorities.NationalCoordinator, PerPage: 1})
	if err != nil || len(list) == 0 {
		return fmt.Errorf("no French coordinator: %v", err)
	}
	e.actors.frCoordinator = authorities.Actor{Authority: list[0], Roles: []authorities.UserRole{{Role: authorities.Coordinator}}}
	return nil
}

// freshlyActedOn tells whether a route changes the object named by {id}.
func freshlyActedOn(method, pattern string) bool {
	if method == "GET" {
		return false
	}
	p := strings.TrimPrefix(pattern, "/api/v1")
	if !strings.HasPrefix(p, "/requests/{id}") && !strings.HasPrefix(p, "/alerts/{id}") && !strings.HasPrefix(p, "/measures/{id}") {
		return false
	}
	return true
}

// fresh returns a new object like the demonstration one whose id is like:
// the same kind, parties and state.
func (e *environment) fresh(ctx context.Context, like string) (string, error) {
	a := e.actors
	subject := map[string]string{"name": "Sqlmap Subject", "profession": "doctor", "date_of_birth": "1980-01-01"}
	newRequest := func(from, to authorities.Actor) (string, error) {
		r, err := e.a.Requests.Create(ctx, from, requests.DraftInput{Area: "pq", QuestionSet: "authenticity",
			Questions: []string{"diploma_authentic"}, ResponderID: to.Authority.ID, Subject: subject})
		if err != nil {
			return "", fmt.Errorf("fresh request: %w", err)
		}
		return r.ID, nil
	}
	act := func(actor authorities.Actor, id string, steps ...string) error {
		for _, step := range steps {
			in := requests.Input{}
			if step == "answer" {
				in.Answers = map[string]requests.Answer{"diploma_authentic": {Value: "yes"}}
			}
			if _, err := e.a.Requests.Act(ctx, actor, id, step, in); err != nil {
				return fmt.Errorf("fresh request, %s: %w", step, err)
			}
		}
		return nil
	}
	switch like {
	case e.ids["request"]: // from Eleni, waiting for Anna
		id, err := newRequest(a.eleni, a.anna)
		if err != nil {
			return "", err
		}
		return id, act(a.eleni, id, "send")
	case e.ids["request.answered"]: // from Anna, answered by Eleni
		id, err := newRequest(a.anna, a.eleni)
		if err != nil {
			return "", err
		}
		if err := act(a.anna, id, "send"); err != nil {
			return "", err
		}
		return id, act(a.eleni, id, "accept", "answer")
	case e.ids["request.draft"]:
		return newRequest(a.anna, a.eleni)
	case e.ids["alert"], e.ids["alert.draft"]:
		c, err := e.a.Broadcasts.Create(ctx, a.claire, broadcasts.DraftInput{Kind: broadcasts.Alert, Area: "services", Type: "services_alert",
			Title: "Sqlmap alert", Criteria: []string{"caused_by_service_activity", "serious_damage_risk", "cross_border"},
			Countries: []string{"PT", "DE"}, Message: "Sqlmap.", Fields: map[string]string{"business_name": "Sqlmap SARL",
				"registration_number": "RCS 1", "country_of_establishment": "FR", "activity": "construction", "risk": "Sqlmap", "measures": "Sqlmap"}})
		if err != nil || like == e.ids["alert.draft"] {
			return idOf(c), err
		}
		if _, err := e.a.Broadcasts.Act(ctx, a.claire, c.ID, "submit", broadcasts.Input{}); err != nil {
			return "", fmt.Errorf("fresh alert: %w", err)
		}
		_, err = e.a.Broadcasts.Act(ctx, a.frCoordinator, c.ID, "approve", broadcasts.Input{})
		return c.ID, err
	case e.ids["measure"], e.ids["measure.draft"]:
		c, err := e.a.Broadcasts.Create(ctx, a.claire, broadcasts.DraftInput{Kind: broadcasts.Notification, Area: "services", Type: "services_requirements",
			Title: "Sqlmap measure", Fields: map[string]string{"measure_title": "Sqlmap", "legal_reference": "Sqlmap 1",
				"activity": "real_estate_agents", "entry_into_force": "2027-01-01", "justification": "Sqlmap."}})
		if err != nil || like == e.ids["measure.draft"] {
			return idOf(c), err
		}
		_, err = e.a.Broadcasts.Act(ctx, a.claire, c.ID, "send", broadcasts.Input{})
		return c.ID, err
	}
	return like, nil
}

func idOf(c *broadcasts.Case) string {
	if c == nil {
		return ""
	}
	return c.ID
}
