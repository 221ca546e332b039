package web

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/stats"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/web/static"
	"github.com/openimi/openimi/locales"
)

func newTestServer(t testing.TB) *Server {
	t.Helper()
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.Load()
	if err != nil {
		t.Fatalf("%v (run ./scripts/assets.sh)", err)
	}
	s, err := New(Config{}, Deps{Catalog: cat, Assets: assets, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAPanicShowsTheGenericErrorPageWithoutInternals(t *testing.T) {
	s := newTestServer(t)
	h := s.recoverPanics(s.securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visitOf(r).lang = s.catalog.Localizer("el")
		panic("secret internal state: SELECT * FROM users")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	if strings.Contains(body, "SELECT") || strings.Contains(body, "goroutine") || strings.Contains(body, "secret") {
		t.Fatal("internals reached the page")
	}
	if !strings.Contains(body, `lang="el"`) {
		t.Fatal("error page not in the visitor's language")
	}
}

func TestAnInternalErrorGivesAReferenceButNoDetail(t *testing.T) {
	s := newTestServer(t)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r = withVisit(r, &visit{lang: s.catalog.Localizer("en")})
	s.fail(rec, r, errors.New("pq: relation users does not exist"))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "relation") {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(rec.Body.String(), "reference") {
		t.Fatal("no reference for the helpdesk")
	}
}

func TestSafeNextKeepsRedirectsOnThisSite(t *testing.T) {
	cases := map[string]string{
		"/profile":             "/profile",
		"/requests?state=new":  "/requests?state=new",
		"":                     "/",
		"https://evil.example": "/",
		"//evil.example":       "/",
		"/\\evil.example":      "/",
		"javascript:alert(1)":  "/",
		"/x\r\nSet-Cookie: a":  "/",
	}
	for in, want := range cases {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEveryPageRendersInEveryLanguage(t *testing.T) {
	s := newTestServer(t)
	u := sampleUser()
	for name, d := range samplePages(t, s) {
		for _, l := range i18n.Languages {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/"+name, nil)
			r = withVisit(r, &visit{lang: s.catalog.Localizer(l.Code), user: u, nonce: "n"})
			s.render(rec, r, http.StatusOK, name, page{TitleKey: "home_title", Data: d, Errors: map[string]string{}})
			body := rec.Body.String()
			if rec.Code != http.StatusOK || !strings.Contains(body, `<html lang="`+l.Code+`"`) {
				t.Fatalf("%s in %s: %d", name, l.Code, rec.Code)
			}
			if strings.Contains(body, "<no value>") || strings.Contains(body, "%!") {
				t.Errorf("%s in %s: a placeholder was not filled", name, l.Code)
			}
		}
	}
}

// sampleUser is the signed-in user of samplePages.
func sampleUser() *auth.User {
	return &auth.User{Name: "Μαρία Παπαδοπούλου", Email: "m@example.gr", TOTPEnabled: true}
}

// samplePages returns, for every page template of s, data that shows
// most of what it can show.
func samplePages(t testing.TB, s *Server) map[string]any {
	t.Helper()
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		t.Fatal(err)
	}
	countryFilter := func(current string) template.HTML {
		h, err := s.countrySelect(s.catalog.Localizer("el"), current)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	pq, _ := reg.Pack("pq")
	data := map[string]any{
		"signin": nil, "code": nil, "forgot": nil, "help": nil, "open_data": nil, "error": nil, "home": homeData{Work: []workLine{{"home_count_alerts", "/alerts", 2}}},
		"enrol":    enrolData{Enrolment: auth.Enrolment{Secret: "ABC", QRCode: "data:image/png;base64,AA=="}, Action: "/sign-in/enrol"},
		"recovery": recoveryData{Codes: []string{"abcde-fghij"}, Next: "/"},
		"profile":  profileData{Languages: i18n.Languages},
		"language": languageData{Next: "/"},
		"reset":    resetData{Token: "t", NeedsCode: true},
	}
	auth1 := &authorities.Authority{ID: "a1", Country: "EL", Name: "Υπουργείο Υγείας", Language: "el", Kind: authorities.CompetentAuthority, Status: authorities.Active,
		Areas: []string{"pq"}, Names: map[string]string{"en": "Ministry of Health"}, Email: "x@example.eu", Website: "https://example.eu"}
	av := authorityView{Authority: auth1, DisplayName: "Ministry of Health", ShowOriginal: true, CountryName: "Ελλάδα", CanEdit: true, CanValidate: true, CanUsers: true,
		AreaNames: []areaName{{Code: "pq", Name: "PQ"}}, Competences: []competenceGroup{{Area: "PQ", Vocabulary: "Professions", Terms: []string{"Doctor"}}}}
	now := time.Now()
	data["authorities"] = authorityListView{Items: []authorityRow{av.row(s.catalog.Localizer("el"))}, Total: 1, Page: 1, Pages: 2, NextURL: "/authorities?page=2", Filter: url.Values{}, CanInvite: true,
		Countries: countryFilter("EL"), Areas: []areaName{{Code: "pq", Name: "PQ"}}, Statuses: []string{"active"}}
	data["authority"] = av
	data["authority_form"] = authorityForm{Action: "/authorities/new", Register: true, Coordinates: true, Countries: []countryOption{{Code: "EL", Name: "Ελλάδα"}},
		Languages: i18n.Languages, Kinds: authorities.Kinds, Values: url.Values{"areas": {"pq"}},
		Areas: []formArea{{Code: "pq", Name: "PQ", Checked: true, Vocabs: []formVocab{{Code: "professions", Name: "Professions", Terms: []formTerm{{Value: "pq/professions/doctor", Name: "Doctor"}}}}}}}
	data["authority_history"] = historyView{Authority: auth1, Changes: []authorities.Change{{At: now, UserName: "X", Field: "city", Old: "A", New: "B"}}}
	data["members"] = membersView{Authority: auth1, Members: []authorities.Member{{ID: "u1", Name: "N", Email: "n@example.eu", Active: true, LastSignIn: &now,
		Roles: []authorities.UserRole{{Role: "request_handler"}}}}, Roles: authorities.UserRoles, Languages: i18n.Languages}
	data["never_used"] = neverUsedView{Country: "EL", Countries: []countryOption{{Code: "EL", Name: "Ελλάδα"}}, Items: []authorityView{av}}
	data["registry_stats"] = statsView{Stats: authorities.Stats{Areas: []string{"pq"}, Countries: []authorities.CountryStats{{Country: "EL", PerArea: map[string]int{"pq": 1}, Total: 1}},
		Total: authorities.CountryStats{Country: "TOTAL", PerArea: map[string]int{"pq": 1}, Total: 1}, ByAreas: map[int]int{1: 1}},
		Countries: map[string]string{"EL": "Ελλάδα"}, AreaNames: map[string]string{"pq": "PQ"}, ByAreas: []byAreasRow{{Areas: 1, Authorities: 1}}}
	data["invitation"] = invitationView{Token: "t", PendingInvitation: authorities.PendingInvitation{Email: "x@example.eu", Authority: "A"}}
	data["import"] = importView{Done: true, Result: authorities.ImportResult{Created: 1}, Lines: []importLine{{Line: 2, Column: "country", Reason: "R"}}}
	lpq := pq.In("en")
	req := &requests.Request{ID: "r1", Reference: "PQ-2026-000001", Area: "pq", QuestionSet: "authenticity", State: "accepted", ReplyBy: now,
		PersonalShown: true, SubjectName: "Jan Kowalski"}
	states, err := s.stateSelect(s.catalog.Localizer("el"), "sent")
	if err != nil {
		t.Fatal(err)
	}
	data["requests"] = inboxView{Box: "todo", Tabs: inboxTabs(s.catalog.Localizer("el"), "todo", map[string]int{"todo": 1250}), Total: 1, Page: 1, Pages: 1, Filter: url.Values{},
		Items: []requestRow{{ID: req.ID, Reference: req.Reference, SubjectName: req.SubjectName, ReplyBy: "2026-03-01", AreaName: "PQ", Other: "Ärztekammer (Deutschland)", Overdue: true, StateName: "Accepted"}},
		Areas: []areaName{{Code: "pq", Name: "PQ"}}, States: states, CanNew: true, CanFollowUp: true, CanSubjectData: true}
	data["request_form"] = requestFormView{Areas: []areaName{{Code: "pq", Name: "PQ"}}, Area: &lpq, Set: lpq.QuestionSet("authenticity"),
		Chosen: map[string]bool{"diploma_authentic": true}, Searched: true, Found: []authorityOption{{ID: "a1", Name: "A", Country: "PL"}},
		Responder: &authorityOption{ID: "a2", Name: "B", Country: "PL"}}
	data["follow_up"] = followUpView{Reasons: requests.Reasons, Reason: "overdue", Counts: map[string]int{"overdue": 51}, Total: 51, Page: 1, Pages: 2, NextURL: "/requests/follow-up?page=2",
		Items: []requestRow{{ID: req.ID, Reference: req.Reference, SubjectName: req.SubjectName, ReplyBy: "2026-03-01", AreaName: "PQ", Other: "A (DE) → B (PL)", Overdue: true, StateName: "Sent", Reason: "Overdue"}}}
	th, _ := stats.ParseThresholds(stats.DefaultThresholds)
	data["statistics"] = &statsPageView{Name: "scoreboard", Names: stats.Statistics, Groupings: []statsOption{{Value: "area", Label: "Area"}}, By: "area",
		Areas: []areaName{{Code: "pq", Name: "PQ"}}, Countries: countryFilter(""), CanFollowUp: true, Thresholds: th,
		Heads: []statsHead{{Label: "Country"}, {Label: "Accepted", Num: true, Rated: true}},
		Rows:  [][]statsCell{{{Text: "Ελλάδα", Head: true}, {Text: "87.5 %", Num: true, Status: "green", StatusText: "On target"}}},
		Bars:  []stats.Bar{{Label: "Ελλάδα", Text: "87.5 %", Share: 87.5}}, ChartLabel: "Accepted", ExportCSV: "/statistics/scoreboard/export?format=csv", Years: []int{2026, 2025}}
	data["subject_data"] = subjectDataView{Name: "Kowalski", Done: true, Found: []requestRow{{ID: req.ID, Reference: req.Reference, SubjectName: req.SubjectName, StateName: "Sent"}}}
	data["notifications"] = notificationsView{Unread: 1, Items: []notify.Notice{{ID: "n1", Kind: "request_update", Reference: "PQ-2026-000001", Link: "/requests/r1", CreatedAt: now},
		{ID: "n2", Kind: "request_follow_up", Reference: "PQ-2026-000002", Link: "/requests/r2", CreatedAt: now, Read: true}}}
	var questions []questionLine
	for i, answerType := range []string{"yes_no_unknown", "single_choice", "multiple_choice", "date", "number"} {
		code := fmt.Sprintf("q%d", i+1)
		line := questionLine{Code: code, Text: strings.ToUpper(code) + "?", answerInputs: newAnswerInputs(s.catalog.Localizer("en"), code, answerType, []areas.LocalizedTerm{{Code: "o", Name: "O"}})}
		if i == 0 {
			line.Answer = "Yes"
		}
		questions = append(questions, line)
	}
	var forms []actionForm
	for _, n := range []string{"answer", "forward", "split", "reallocate", "propose_date", "close", "comment"} {
		forms = append(forms, newActionForm(n, n, "optional"))
	}
	data["request"] = requestView{ID: req.ID, State: req.State, ReplyBy: "2026-03-01", PersonalShown: true, Message: "Please confirm.",
		Attachments: []requests.Attachment{{ID: "f1", Name: "diploma.pdf", ContentType: "application/pdf", Size: 2048, CreatedAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}}, AreaName: "PQ", SetName: "Authenticity", StateName: "Accepted", Requester: authorityOption{ID: "a1", Name: "A", Country: "DE"},
		Responder: &authorityOption{ID: "a2", Name: "B", Country: "PL"}, Overdue: true, Proposed: "2026-12-01", Stopped: true,
		Subject:   []subjectLine{{Label: "Name", Value: "Jan Kowalski", Personal: true}},
		Questions: questions,
		Timeline:  []timelineLine{{At: "2026-03-02 09:00", Event: "Sent", Authority: "A", Party: "Requesting authority", Comment: "Hello"}},
		Actions:   forms, Authorities: []authorityOption{{ID: "a3", Name: "C", Country: "PL"}}, CanCopy: true,
		Handlers: []requests.Person{{ID: "u1", Name: "Piotr"}}, Parent: "PQ-2026-000000"}
	services, _ := reg.Pack("services")
	lsv := services.In("en")
	alert := lsv.Broadcast("services_alert")
	sentAt := now.Add(-time.Hour)
	c := &broadcasts.Case{ID: "b1", Reference: "SERVICES-A-2026-000001", Kind: "alert", Area: "services", Type: "services_alert", State: "broadcast",
		Title: "Unsafe gas installations", SentAt: &sentAt, CommentUntil: &now, Deadline: &now, PersonalShown: true, Message: "Details",
		Countries: []string{"IT"}, Parties: []string{"sender"}, ToDo: true}
	row := caseRow{Case: c, AreaName: "Services", TypeName: alert.Name, StateName: "Broadcast", Sender: "IVO (Sverige)", Late: true}
	for _, kind := range broadcasts.Kinds {
		data["broadcasts"] = caseInboxView{Kind: kind, Key: keyOf(kind), Base: broadcasts.Path(kind), Box: "to_do", Boxes: broadcasts.Boxes,
			Counts: map[string]int{"to_do": 1}, Items: []caseRow{row}, Total: 1, Page: 1, Pages: 1, Filter: url.Values{},
			Areas: []areaName{{Code: "services", Name: "Services"}}, States: []string{"draft", "broadcast"}, CanNew: true, CanStatistic: true}
	}
	fields := (&Server{}).fieldInputs(lsv, alert, "en")
	data["broadcast_form"] = caseFormView{Kind: "alert", Key: "alert", Base: "/alerts", Action: "/alerts/new", Types: []typeOption{{Value: "services/services_alert", Name: alert.Name, Area: "Services"}},
		Type: lpqAlert(reg), Fields: fields, Countries: []countryOption{{Code: "IT", Name: "Italia"}}, Chosen: map[string]bool{"IT": true}}
	var caseActions []caseAction
	for _, n := range []string{"disseminate", "rectify", "acknowledge"} {
		caseActions = append(caseActions, caseAction{Name: n, Label: n, Comment: "optional", Disseminate: n == "disseminate", Revise: n == "rectify"})
	}
	data["broadcast"] = caseView{caseRow: row, Base: "/alerts", Type: alert, Values: []subjectLine{{Label: "Name", Value: "Gasfix", Personal: true}},
		Criteria: []string{"C"}, Countries: []string{"Italia"}, Receipts: []receiptLine{{Country: "Italia", Received: "2026-05-04 09:00"}},
		Recipients: []recipientLine{{Name: "Ministero della Salute", Country: "Italia", Disseminated: "2026-05-04 10:00"}},
		Timeline:   []timelineLine{{At: "2026-05-04 09:00", Event: "Broadcast", Authority: "IVO", Party: "Sender", Comment: "c"}},
		Actions:    caseActions, Fields: fields, Candidates: []authorityOption{{ID: "a9", Name: "Camera di commercio", Country: "Italia"}}, CommentOpen: false}
	type statLine struct {
		broadcasts.Stats
		AreaName, CountryName string
	}
	data["broadcast_stats"] = []statLine{{Stats: broadcasts.Stats{Kind: "alert", Area: "services", Country: "IT", Received: 1, MedianAckHours: 2}, AreaName: "Services", CountryName: "Italia"}}
	entry := &registers.Entry{ID: "g1", Country: "DE", AuthorityID: "a1", Name: "Handelsregister", Language: "de", Names: map[string]string{"en": "Commercial register"},
		Description: "Kaufleute", Type: "business_register", Access: "public_online", Fees: true, URL: "https://www.handelsregister.de", LegalBasis: "§ 8 HGB",
		Languages: []string{"de"}, Areas: []string{"services"}, Status: "submitted", CanEdit: true, CanValidate: true}
	ev := entryView{Entry: entry, DisplayName: "Commercial register", CountryName: "Deutschland", Holder: "IHK", LanguageName: "Deutsch",
		AreaNames: []string{"Services"}, LanguageNames: []string{"Deutsch"}}
	data["registers"] = registersView{Items: []entryView{ev}, Total: 1, Page: 1, Pages: 2, NextURL: "/registers?page=2", Filter: url.Values{},
		Countries: countryFilter("DE"), Areas: []areaName{{Code: "services", Name: "Services"}}, Types: registers.Types,
		Accesses: registers.Accesses, Statuses: registers.Statuses, CanAdd: true, CanImport: true}
	data["register"] = ev
	data["register_form"] = registerFormView{Action: "/registers/new", Types: registers.Types, Accesses: registers.Accesses, Languages: i18n.Languages,
		Areas: []areaName{{Code: "services", Name: "Services"}}, Holders: []authorityOption{{ID: "a1", Name: "IHK", Country: "DE"}}, Holder: &authorityOption{ID: "a1", Name: "IHK", Country: "DE"}}
	data["register_history"] = struct {
		ID      string
		Changes []authorities.Change
	}{"g1", []authorities.Change{{At: now, UserName: "X", Field: "access", Old: "public_online", New: "on_request"}}}
	data["register_import"] = registerImportView{Done: true, Result: registers.ImportResult{Created: 1}, Lines: []importLine{{Line: 2, Column: "type", Reason: "R"}}}
	pages := map[string]any{}
	for name := range s.pages {
		d, ok := data[name]
		if a := summarize(pq, "en"); name == "areas" {
			d, ok = []areaSummary{a}, true
		} else if name == "area" {
			d, ok = a, true
		} else if name == "vocabulary" {
			d, ok = vocabularyView{Area: a, LocalizedVocabulary: a.Vocabulary("professions")}, true
		} else if name == "question_set" {
			set := a.QuestionSet("right_to_practise")
			v := questionSetView{Area: a, Set: set, Lang: language("en"), Compare: language("ga"), Languages: i18n.Languages}
			for _, sec := range set.Sections {
				pair := sectionPair{A: sec, B: sec}
				for _, q := range sec.Questions {
					pair.Questions = append(pair.Questions, questionPair{A: q, B: q, Condition: &conditionView{Question: "Q", Answers: []string{"yes"}}})
				}
				v.Sections = append(v.Sections, pair)
			}
			d, ok = v, true
		}
		if !ok {
			t.Errorf("page %s has no test data", name)
			continue
		}
		pages[name] = d
	}
	return pages
}

// lpqAlert is the professional qualifications alert type in English: it
// has a sending deadline.
func lpqAlert(reg *areas.Registry) *areas.LocalizedBroadcast {
	p, _ := reg.Pack("pq")
	return p.In("en").Broadcast("pq_alert")
}

func TestNoticesAreLimitedToKnownMessages(t *testing.T) {
	s := newTestServer(t)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: noticeCookie, Value: "<script>alert(1)</script>"})
	if got := s.takeNotice(rec, r, s.catalog.Localizer("en")); got != "" {
		t.Fatalf("unknown notice shown: %q", got)
	}
}
