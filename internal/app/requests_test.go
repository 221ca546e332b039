package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
)

// requestSite is a site with a German requester (the site's user, with a
// token) and a Polish responder with its own user and token.
func requestSite(t *testing.T, extra ...string) (s *site, de, pl *authorities.Authority, deToken, plToken string) {
	t.Helper()
	s = startSite(t, extra...)
	ctx := context.Background()
	registerWith(t, s, authorities.Input{Country: "DE", Name: "BMWK", Language: "de", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	registerWith(t, s, authorities.Input{Country: "PL", Name: "MRiT", Language: "pl", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	de = registerWith(t, s, authorities.Input{Country: "DE", Name: "Ärztekammer Berlin", Language: "de", Areas: []string{"pq"}})
	pl = registerWith(t, s, authorities.Input{Country: "PL", Name: "Naczelna Izba Lekarska", Language: "pl", Areas: []string{"pq"}})
	if err := s.app.Authorities.Assign(ctx, s.user.ID, de.ID, []authorities.UserRole{{Role: authorities.RequestHandler}}); err != nil {
		t.Fatal(err)
	}
	u, err := s.app.Auth.CreateUser(ctx, auth.NewUser{Email: "piotr@nil.example.pl", Name: "Piotr", Password: "correct-horse-battery-9"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.Authorities.Assign(ctx, u.ID, pl.ID, []authorities.UserRole{{Role: authorities.Allocator}, {Role: authorities.RequestHandler}}); err != nil {
		t.Fatal(err)
	}
	_, plToken, err = s.app.Auth.CreateToken(ctx, "piotr@nil.example.pl", "test")
	if err != nil {
		t.Fatal(err)
	}
	return s, de, pl, s.token(t), plToken
}

func TestARequestThroughTheAPI(t *testing.T) {
	s, _, pl, deToken, plToken := requestSite(t)
	body := `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"` + pl.ID + `",
		"subject":{"name":"Jan Kowalski","profession":"doctor"},"message":"Please check."}`
	r := s.api(t, "POST", "/api/v1/requests", deToken, body, "Idempotency-Key", "k1")
	var req struct {
		ID, Reference, State string
		Actions              []string
	}
	if err := json.Unmarshal([]byte(r.body), &req); err != nil || r.code != http.StatusCreated || req.State != "draft" {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	if again := s.api(t, "POST", "/api/v1/requests", deToken, body, "Idempotency-Key", "k1"); !strings.Contains(again.body, req.ID) {
		t.Fatal("a repeated create made another request")
	}
	// Not yet sent: the responder sees nothing.
	if r := s.api(t, "GET", "/api/v1/requests/"+req.ID, plToken, ""); r.code != http.StatusNotFound {
		t.Fatalf("the responder saw a draft: %d", r.code)
	}
	if r := s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/send", deToken, ""); r.code != http.StatusOK || !strings.Contains(r.body, `"state":"sent"`) {
		t.Fatalf("send: %d %s", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/requests?box=todo", plToken, ""); !strings.Contains(r.body, req.Reference) || !strings.Contains(r.body, "Jan Kowalski") ||
		!strings.Contains(r.body, `"counts":{"closed":0,"drafts":0,"received":1,"sent":0,"todo":1}`) {
		t.Fatalf("the responder's inbox: %s", r.body)
	}
	// A step that is not possible: 409 in the client's language, nothing changed.
	r = s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/answer", plToken, `{"answers":{"diploma_authentic":{"value":"yes"}}}`, "Accept-Language", "pl")
	if r.code != http.StatusConflict || apiError(t, r).Message == "" || r.header.Get("Content-Language") != "pl" {
		t.Fatalf("answer before accepting: %d %s", r.code, r.body)
	}
	if r := s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/reallocate", plToken, `{"handler_id":"nobody"}`); r.code != http.StatusBadRequest {
		t.Fatalf("reallocate to nobody: %d %s", r.code, r.body)
	}
	// Who may take it over: for the responder's allocator, its users who
	// may handle it, by name (Piotr alone); nobody for the requester.
	var handlers struct{ Items []struct{ ID, Name string } }
	if r := s.api(t, "GET", "/api/v1/requests/"+req.ID+"/handlers", plToken, ""); r.code != http.StatusOK || json.Unmarshal([]byte(r.body), &handlers) != nil ||
		len(handlers.Items) != 1 || handlers.Items[0].Name != "Piotr" || handlers.Items[0].ID == "" {
		t.Fatalf("the responder's handlers: %d %s", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/requests/"+req.ID+"/handlers", deToken, ""); r.code != http.StatusOK || strings.TrimSpace(r.body) != `{"items":[]}` {
		t.Fatalf("the requester's list of the responder's handlers: %d %s", r.code, r.body)
	}
	s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/accept", plToken, "")
	r = s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/answer", plToken, `{"answers":{"diploma_authentic":{"value":"maybe"}}}`)
	if r.code != http.StatusBadRequest || apiError(t, r).Fields[0].Field != "answers.diploma_authentic" {
		t.Fatalf("a bad answer: %d %s", r.code, r.body)
	}
	if r := s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/answer", plToken, `{"answers":{"diploma_authentic":{"value":"yes"}}}`); r.code != http.StatusOK {
		t.Fatalf("answer: %d %s", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/requests/"+req.ID+"/handlers", plToken, ""); r.code != http.StatusOK || strings.TrimSpace(r.body) != `{"items":[]}` {
		t.Fatalf("the handlers of an answered request, which nobody may take over: %d %s", r.code, r.body)
	}
	if r := s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/close", deToken, `{"rating_time":5,"rating_effort":5}`); !strings.Contains(r.body, `"state":"closed"`) {
		t.Fatalf("close: %s", r.body)
	}
	if r := s.api(t, "POST", "/api/v1/requests/"+req.ID+"/copy", deToken, `{"questions":true}`); r.code != http.StatusCreated || !strings.Contains(r.body, `"state":"draft"`) {
		t.Fatalf("copy: %d %s", r.code, r.body)
	}
	r = s.api(t, "GET", "/api/v1/requests/"+req.ID+"/timeline", deToken, "")
	for _, step := range []string{"create", "send", "accept", "answer", "close"} {
		if !strings.Contains(r.body, `"action":"`+step+`"`) {
			t.Errorf("timeline lacks %s: %s", step, r.body)
		}
	}
}

func TestARequestIsWrittenSentAndFollowedInTheBrowser(t *testing.T) {
	s, _, pl, _, plToken := requestSite(t)
	b := s.enrol()
	if r := b.get("/requests/new"); r.code != http.StatusOK || !strings.Contains(r.body, `name="area"`) {
		t.Fatalf("new request page: %d", r.code)
	}
	// Step by step, without JavaScript: area and set, then the responder
	// found by search, then save with a missing required field.
	form := url.Values{"area": {"pq"}, "question_set": {"authenticity"}, "step": {"continue"}}
	if r := b.post("/requests/new", form); !strings.Contains(r.body, `value="diploma_authentic"`) {
		t.Fatalf("questions not offered: %d", r.code)
	}
	form.Set("step", "find")
	form.Set("responder_q", "naczelna izba")
	if r := b.post("/requests/new", form); !strings.Contains(r.body, `value="`+pl.ID+`"`) {
		t.Fatalf("the responder was not found: %s", r.body)
	}
	form.Set("step", "save")
	form.Set("responder", pl.ID)
	form["questions"] = []string{"diploma_authentic"}
	form.Set("subject.name", "Jan Kowalski")
	r := b.post("/requests/new", form)
	if r.code != http.StatusSeeOther {
		t.Fatalf("save: %d %s", r.code, r.body)
	}
	page := b.get(r.location())
	if !strings.Contains(page.body, "Jan Kowalski") || !strings.Contains(page.body, "/actions/send") {
		t.Fatal("the draft's page lacks its subject or the send button")
	}
	id := strings.TrimPrefix(r.location(), "/requests/")
	// Sending without the required profession: the error, in place, and nothing sent.
	if r := b.post("/requests/"+id+"/actions/send", url.Values{}); r.code != http.StatusBadRequest || !strings.Contains(r.body, "f-subject.profession") {
		t.Fatalf("send without the profession: %d", r.code)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM case_events WHERE action = 'send'`); n != 0 {
		t.Fatal("an invalid send was recorded")
	}
	// The draft's form, with what it holds, fixes it.
	edit := b.get("/requests/" + id + "/edit")
	if edit.code != http.StatusOK || !strings.Contains(edit.body, `value="Jan Kowalski"`) {
		t.Fatalf("edit: %d", edit.code)
	}
	form.Set("subject.profession", "doctor")
	if r := b.post("/requests/"+id+"/edit", form); r.code != http.StatusSeeOther {
		t.Fatalf("save the edit: %d %s", r.code, r.body)
	}
	// A form records no view of its own: the page it leads to records the
	// one it shows.
	views := func() int { return s.count(t, `SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.viewed'`) }
	before := views()
	r = b.post("/requests/"+id+"/actions/send", url.Values{})
	if r.code != http.StatusSeeOther || r.location() != "/requests/"+id {
		t.Fatalf("send: %d %s", r.code, r.body)
	}
	if n := views() - before; n != 0 {
		t.Fatalf("sending recorded %d views", n)
	}
	if page := b.get(r.location()); page.code != http.StatusOK || !strings.Contains(page.body, "Jan Kowalski") || views()-before != 1 {
		t.Fatalf("the sent request's page: %d, %d views recorded", page.code, views()-before)
	}
	// The responder accepts through the API; the requester's inbox shows it.
	s.api(t, "POST", "/api/v1/requests/"+id+"/actions/accept", plToken, "")
	inbox := b.get("/requests?box=sent")
	if !strings.Contains(inbox.body, "Jan Kowalski") || !strings.Contains(inbox.body, "Naczelna Izba Lekarska") {
		t.Fatalf("the sent box: %s", inbox.body)
	}
	// Further information asked: the requester answers from the page.
	s.api(t, "POST", "/api/v1/requests/"+id+"/actions/request_info", plToken, `{"comment":"Which university?"}`)
	page = b.get("/requests/" + id)
	if !strings.Contains(page.body, "Which university?") || !strings.Contains(page.body, "/actions/provide_info") {
		t.Fatal("the request for information is not shown")
	}
	if r := b.post("/requests/"+id+"/actions/provide_info", url.Values{"comment": {""}}); r.code != http.StatusBadRequest {
		t.Fatalf("empty information: %d", r.code)
	}
	if r := b.post("/requests/"+id+"/actions/provide_info", url.Values{"comment": {"Jagiellonian University"}}); r.code != http.StatusSeeOther {
		t.Fatalf("information: %d", r.code)
	}
	// A copy with the questions and the responder, without the person.
	r = b.post("/requests/"+id+"/copy", url.Values{"questions": {"on"}, "responder": {"on"}})
	if r.code != http.StatusSeeOther || strings.TrimPrefix(r.location(), "/requests/") == id {
		t.Fatalf("copy: %d %s", r.code, r.location())
	}
	if c := b.get(r.location()); strings.Contains(c.body, "Jan Kowalski") || !strings.Contains(c.body, "Naczelna Izba Lekarska") {
		t.Fatal("the copy took the wrong parts")
	}
}

// A responder that forwards a request from its page no longer takes part:
// the form leads to its inbox, and the request's page is not found.
func TestAForwardFromThePageLeadsToTheInbox(t *testing.T) {
	s, _, pl, deToken, _ := requestSite(t)
	other := registerWith(t, s, authorities.Input{Country: "PL", Name: "Okręgowa Izba Lekarska", Language: "pl", Areas: []string{"pq"}})
	req, b := sentToPiotr(t, s, pl, deToken)
	if page := b.get("/requests/" + req.ID); page.code != http.StatusOK || !strings.Contains(page.body, "/actions/forward") {
		t.Fatalf("the responder's page: %d", page.code)
	}
	r := b.post("/requests/"+req.ID+"/actions/forward", url.Values{"responder": {other.ID}, "comment": {"The regional chamber keeps this register."}})
	if r.code != http.StatusSeeOther || r.location() != "/requests" {
		t.Fatalf("forward: %d %q", r.code, r.location())
	}
	if page := b.get("/requests/" + req.ID); page.code != http.StatusNotFound || strings.Contains(page.body, "Jan Kowalski") {
		t.Fatalf("the forwarded request's page: %d", page.code)
	}
}

func TestTheFollowUpListIsForCoordinators(t *testing.T) {
	s, _, _, _, _ := requestSite(t)
	b := s.enrol()
	if r := b.get("/requests/follow-up"); r.code != http.StatusForbidden {
		t.Fatalf("a request handler's follow-up list: %d", r.code)
	}
	var nc string
	if err := s.app.DB.Read().QueryRowContext(context.Background(), `SELECT id FROM authorities WHERE country = 'DE' AND role = 'national_coordinator'`).Scan(&nc); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Authorities.Assign(context.Background(), s.user.ID, nc, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		t.Fatal(err)
	}
	if r := b.get("/requests/follow-up?reason=overdue"); r.code != http.StatusOK {
		t.Fatalf("follow-up page: %d", r.code)
	}
	tok := s.token(t)
	if r := s.api(t, "GET", "/api/v1/requests/follow-up?reason=nonsense", tok, ""); r.code != http.StatusBadRequest {
		t.Fatalf("an unknown reason: %d", r.code)
	}
	if r := s.api(t, "GET", "/api/v1/requests/follow-up", tok, ""); r.code != http.StatusOK || !strings.Contains(r.body, `"items"`) {
		t.Fatalf("follow-up API: %d %s", r.code, r.body)
	}
}

func TestADataSubjectsRequestInTheBrowserAndTheAPI(t *testing.T) {
	s, de, pl, deToken, _ := requestSite(t)
	body := `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"` + pl.ID + `","subject":{"name":"Jan Kowalski","profession":"doctor"}}`
	s.api(t, "POST", "/api/v1/requests", deToken, body)
	if r := s.api(t, "GET", "/api/v1/requests/subject-data?name=kowalski", deToken, ""); r.code != http.StatusForbidden {
		t.Fatalf("a request handler: %d", r.code)
	}
	if err := s.app.Authorities.Assign(context.Background(), s.user.ID, de.ID, []authorities.UserRole{{Role: authorities.LocalDataAdministrator}, {Role: authorities.RequestHandler}}); err != nil {
		t.Fatal(err)
	}
	if r := s.api(t, "GET", "/api/v1/requests/subject-data?name=kowalski", deToken, ""); r.code != http.StatusOK || !strings.Contains(r.body, "Jan Kowalski") {
		t.Fatalf("API: %d %s", r.code, r.body)
	}
	b := s.enrol()
	if r := b.get("/requests/subject-data?name=ko"); r.code != http.StatusBadRequest {
		t.Fatalf("two letters: %d", r.code)
	}
	if r := b.get("/requests/subject-data?name=kowalski&format=json"); r.code != http.StatusOK || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") || !strings.Contains(r.body, "Jan Kowalski") {
		t.Fatalf("download: %d %s", r.code, r.body)
	}
}

func TestAttachmentsOverHTTP(t *testing.T) {
	s, _, pl, deToken, plToken := requestSite(t, "--max-attachment-bytes", "1000")
	body := `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"` + pl.ID + `","subject":{"name":"Jan Kowalski","profession":"doctor"}}`
	r := s.api(t, "POST", "/api/v1/requests", deToken, body)
	var req struct{ ID string }
	_ = json.Unmarshal([]byte(r.body), &req)
	s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/send", deToken, "")
	pdf := "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
	// Declared too large: refused before the body is read.
	big, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/requests/"+req.ID+"/attachments?name=big.pdf", strings.NewReader(strings.Repeat("x", 1001)))
	big.Header.Set("Authorization", "Bearer "+deToken)
	if resp := s.browser().do(big); resp.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("1001 bytes: %d", resp.code)
	}
	up, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/requests/"+req.ID+"/attachments?name=../diploma.exe", strings.NewReader(pdf))
	up.Header.Set("Authorization", "Bearer "+deToken)
	resp := s.browser().do(up)
	var got struct {
		Attachments []struct{ ID, Name string }
	}
	if err := json.Unmarshal([]byte(resp.body), &got); err != nil || resp.code != http.StatusCreated || len(got.Attachments) != 1 || got.Attachments[0].Name != "diploma.pdf" {
		t.Fatalf("upload: %d %s", resp.code, resp.body)
	}
	dl := s.api(t, "GET", "/api/v1/requests/"+req.ID+"/attachments/"+got.Attachments[0].ID, plToken, "")
	if dl.code != http.StatusOK || dl.body != pdf || !strings.HasPrefix(dl.header.Get("Content-Disposition"), "attachment") || dl.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("download: %d %v", dl.code, dl.header)
	}
	// The browser: a larger upload form is refused before it is read; a
	// file of the wrong kind gets its message next to the field.
	b := s.enrol()
	b.get("/requests/" + req.ID)
	huge, _ := http.NewRequest("POST", s.srv.URL+"/requests/"+req.ID+"/attachments", strings.NewReader(strings.Repeat("x", 80<<10)))
	huge.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	if resp := b.do(huge); resp.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("browser, too large: %d", resp.code)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("csrf", b.csrf)
	fw, _ := mw.CreateFormFile("file", "page.html")
	_, _ = fw.Write([]byte("<!DOCTYPE html><script>alert(1)</script>"))
	mw.Close()
	html, _ := http.NewRequest("POST", s.srv.URL+"/requests/"+req.ID+"/attachments", &form)
	html.Header.Set("Content-Type", mw.FormDataContentType())
	if resp := b.do(html); resp.code != http.StatusBadRequest || !strings.Contains(resp.body, `id="f-file-error"`) {
		t.Fatalf("browser, HTML file: %d", resp.code)
	}
}

func TestNotificationsInTheBrowserAndTheAPI(t *testing.T) {
	s, _, pl, deToken, plToken := requestSite(t)
	body := `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"` + pl.ID + `","subject":{"name":"Jan Kowalski","profession":"doctor"}}`
	r := s.api(t, "POST", "/api/v1/requests", deToken, body)
	var req struct{ ID, Reference string }
	_ = json.Unmarshal([]byte(r.body), &req)
	s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/send", deToken, "")
	s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/accept", plToken, "")
	// The requester (the site's user) is told that the request was accepted.
	b := s.enrol()
	page := b.get("/notifications")
	if page.code != http.StatusOK || !strings.Contains(page.body, req.Reference) || !strings.Contains(page.body, "/notifications/read") {
		t.Fatalf("notifications page: %d", page.code)
	}
	if r := b.post("/notifications/read", url.Values{}); r.code != http.StatusSeeOther {
		t.Fatalf("mark read: %d", r.code)
	}
	if r := s.api(t, "GET", "/api/v1/notifications", deToken, ""); !strings.Contains(r.body, `"unread":0`) || !strings.Contains(r.body, req.Reference) {
		t.Fatalf("API: %s", r.body)
	}
	// A daily digest instead of an e-mail per event.
	if r := b.post("/profile/digest", url.Values{"digest": {"on"}}); r.code != http.StatusSeeOther {
		t.Fatalf("digest: %d", r.code)
	}
	if p := b.get("/profile"); !strings.Contains(p.body, `id="f-digest" name="digest" checked`) {
		t.Fatal("the digest choice is not shown")
	}
	if r := s.api(t, "PUT", "/api/v1/me/email-digest", deToken, `{"email_digest":false}`); r.code != http.StatusOK {
		t.Fatalf("API digest: %d", r.code)
	}
}

// The inbox's tabs, counts and state filter, and the answer form's
// choices, are made in Go and kept (the state filter's options once per
// language): what the page shows is still the user's, in their language.
func TestTheInboxAndTheAnswerFormInTheUsersLanguage(t *testing.T) {
	s, _, pl, deToken, _ := requestSite(t)
	req, b := sentToPiotr(t, s, pl, deToken)
	b.lang = "pl"
	inbox := b.get("/requests?state=sent")
	if inbox.code != http.StatusOK || !strings.Contains(inbox.body, `href="/requests?box=todo" aria-current="page">Do zrobienia (1)</a>`) ||
		!strings.Contains(inbox.body, `<option value="sent" selected>Wysłany, oczekuje na przyjęcie</option>`) || !strings.Contains(inbox.body, "Jan Kowalski") {
		t.Fatalf("the inbox filtered by state: %d %s", inbox.code, inbox.body)
	}
	for range 2 { // the options without a choice are kept: none stays chosen
		inbox = b.get("/requests?box=closed")
		if inbox.code != http.StatusOK || !strings.Contains(inbox.body, `<option value="sent">Wysłany, oczekuje na przyjęcie</option>`) || strings.Contains(inbox.body, " selected>") ||
			!strings.Contains(inbox.body, `href="/requests?box=closed" aria-current="page">`) || strings.Contains(inbox.body, "Jan Kowalski") {
			t.Fatalf("the closed box: %d %s", inbox.code, inbox.body)
		}
	}
	if r := b.post("/requests/"+req.ID+"/actions/accept", url.Values{}); r.code != http.StatusSeeOther {
		t.Fatalf("accept: %d", r.code)
	}
	page := b.get("/requests/" + req.ID)
	for _, want := range []string{
		`<input type="radio" class="ecl-radio__input" id="a-diploma_authentic-yes" name="answer.diploma_authentic" value="yes">`,
		`<label class="ecl-radio__label" for="a-diploma_authentic-no"><span class="ecl-radio__box" aria-hidden="true"></span><span class="ecl-radio__text">Nie</span>`,
		`id="f-answers.diploma_authentic"`, `name="text.diploma_authentic"`,
	} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("the answer form lacks %s", want)
		}
	}
	// A wrong answer is shown next to its question, and changes nothing.
	r := b.post("/requests/"+req.ID+"/actions/answer", url.Values{"answer.diploma_authentic": {"maybe"}})
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, `id="f-answers.diploma_authentic"`) || !strings.Contains(r.body, `class="ecl-feedback-message"`) {
		t.Fatalf("a wrong answer: %d", r.code)
	}
	if r = b.post("/requests/"+req.ID+"/actions/answer", url.Values{"answer.diploma_authentic": {"yes"}}); r.code != http.StatusSeeOther {
		t.Fatalf("answer: %d", r.code)
	}
	if page = b.get("/requests/" + req.ID); !strings.Contains(page.body, "<strong>Tak</strong>") || strings.Contains(page.body, "/actions/answer\"") {
		t.Fatal("the answer is not shown, or the form still is")
	}
}

// sentToPiotr has the German requester create and send, through the API,
// a request to pl, and returns it and a browser signed in as pl's handler.
func sentToPiotr(t *testing.T, s *site, pl *authorities.Authority, deToken string) (struct{ ID string }, *browser) {
	t.Helper()
	r := s.api(t, "POST", "/api/v1/requests", deToken, `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"`+pl.ID+`",
		"subject":{"name":"Jan Kowalski","profession":"doctor"}}`)
	var req struct{ ID string }
	if err := json.Unmarshal([]byte(r.body), &req); err != nil || r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/send", deToken, "")
	return req, s.enrolAs("piotr@nil.example.pl")
}

// A linked request's page names its parent by its reference and records
// the view of its own personal data alone: the parent's is not shown, so
// no view of it is recorded.
func TestALinkedRequestsPageRecordsTheViewOfItselfAlone(t *testing.T) {
	s, _, pl, deToken, plToken := requestSite(t)
	krakow := registerWith(t, s, authorities.Input{Country: "PL", Name: "Okręgowa Izba Lekarska w Krakowie", Language: "pl", Areas: []string{"pq"}})
	r := s.api(t, "POST", "/api/v1/requests", deToken, `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic","diploma_issuer_competent"],
		"responder_id":"`+pl.ID+`","subject":{"name":"Jan Kowalski","profession":"doctor"}}`)
	var parent struct{ ID, Reference string }
	if err := json.Unmarshal([]byte(r.body), &parent); err != nil || r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	s.api(t, "POST", "/api/v1/requests/"+parent.ID+"/actions/send", deToken, "")
	if r := s.api(t, "POST", "/api/v1/requests/"+parent.ID+"/actions/split", plToken,
		`{"comment":"Kraków issued it.","responder_id":"`+krakow.ID+`","questions":["diploma_issuer_competent"]}`); r.code != http.StatusOK {
		t.Fatalf("split: %d %s", r.code, r.body)
	}
	type listed struct {
		ID, Reference string
		ParentID      string `json:"parent_id"`
	}
	var sent struct{ Items []listed }
	r = s.api(t, "GET", "/api/v1/requests?box=sent", deToken, "")
	if err := json.Unmarshal([]byte(r.body), &sent); err != nil {
		t.Fatal(err)
	}
	child := slices.IndexFunc(sent.Items, func(x listed) bool { return x.ParentID == parent.ID })
	if child < 0 {
		t.Fatalf("no linked request in %s", r.body)
	}
	views := func(reference string) int {
		return s.count(t, `SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.viewed' AND subject = $1`, "request:"+reference)
	}
	ofParent, ofChild := views(parent.Reference), views(sent.Items[child].Reference)
	page := s.enrol().get("/requests/" + sent.Items[child].ID)
	if page.code != http.StatusOK || !strings.Contains(page.body, parent.Reference) || !strings.Contains(page.body, "Jan Kowalski") {
		t.Fatalf("the linked request's page: %d", page.code)
	}
	if n := views(sent.Items[child].Reference) - ofChild; n != 1 {
		t.Errorf("the linked request's page recorded %d views of it, want 1", n)
	}
	if n := views(parent.Reference) - ofParent; n != 0 {
		t.Errorf("the linked request's page recorded %d views of its parent, which it does not show", n)
	}
}
