// Package areas loads legislative areas from data packs: their vocabularies,
// the subject fields of an exchange, pre-translated question sets and
// workflow options, in 26 languages. A new area is a new pack (see
// docs/AREA-PACKS.md), not new code.
package areas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Answer types a question may have.
const (
	YesNo             = "yes_no"
	YesNoUnknown      = "yes_no_unknown"
	SingleChoice      = "single_choice"
	MultipleChoice    = "multiple_choice"
	Date              = "date"
	Number            = "number"
	FreeText          = "free_text"
	DocumentRequested = "document_requested"
)

// AnswerTypes lists every answer type, in the order the documentation gives.
var AnswerTypes = []string{YesNo, YesNoUnknown, SingleChoice, MultipleChoice, Date, Number, FreeText, DocumentRequested}

// Subject field types.
var FieldTypes = []string{"text", "date", "number", "country", "email", "term"}

// Pack is one legislative area as loaded from its pack.
type Pack struct {
	Code         string         `yaml:"code" json:"code"`
	Version      int            `yaml:"version" json:"version"`
	LegalBasis   []string       `yaml:"legal_basis" json:"legal_basis"`
	Workflow     Workflow       `yaml:"workflow" json:"workflow"`
	Vocabularies []*Vocabulary  `yaml:"vocabularies" json:"vocabularies"`
	Subject      []*Field       `yaml:"subject" json:"subject"`
	QuestionSets []*QuestionSet `yaml:"question_sets" json:"question_sets"`
	Broadcasts   []*Broadcast   `yaml:"broadcasts" json:"broadcasts,omitempty"`
	Statistics   Statistics     `yaml:"statistics" json:"statistics"`

	// Texts holds every text by language, then by dotted key
	// ("questions.<code>.text").
	Texts map[string]map[string]string `yaml:"-" json:"texts"`
	// Hash identifies the content of this version.
	Hash string `yaml:"-" json:"-"`

	localized sync.Map // language → Localized, built on first use
}

// Statistics says how the area's requests are counted.
type Statistics struct {
	// Category names the subject field (a term, never personal data) by
	// which requests are counted: the profession, the sector.
	Category string `yaml:"category" json:"category,omitempty"`
}

// Workflow holds an area's workflow options.
type Workflow struct {
	OutgoingApproval   bool                `yaml:"outgoing_approval" json:"outgoing_approval"`
	IncomingAllocation bool                `yaml:"incoming_allocation" json:"incoming_allocation"`
	ReplyDays          int                 `yaml:"reply_days" json:"reply_days"`
	AcceptanceDays     int                 `yaml:"acceptance_days" json:"acceptance_days"`
	RetentionMonths    int                 `yaml:"retention_months" json:"retention_months"`
	Alerts             bool                `yaml:"alerts" json:"alerts"`
	Countries          map[string]Override `yaml:"countries" json:"countries,omitempty"`
}

// Override changes the approval settings for one country.
type Override struct {
	OutgoingApproval   *bool `yaml:"outgoing_approval" json:"outgoing_approval,omitempty"`
	IncomingAllocation *bool `yaml:"incoming_allocation" json:"incoming_allocation,omitempty"`
}

// OutgoingApprovalIn reports whether requests sent from country need their
// coordinator's approval.
func (w Workflow) OutgoingApprovalIn(country string) bool {
	if o, ok := w.Countries[country]; ok && o.OutgoingApproval != nil {
		return *o.OutgoingApproval
	}
	return w.OutgoingApproval
}

// IncomingAllocationIn reports whether requests received in country are
// allocated by its coordinator.
func (w Workflow) IncomingAllocationIn(country string) bool {
	if o, ok := w.Countries[country]; ok && o.IncomingAllocation != nil {
		return *o.IncomingAllocation
	}
	return w.IncomingAllocation
}

// Vocabulary is a list of terms with stable codes, optionally grouped.
type Vocabulary struct {
	Code   string   `yaml:"code" json:"code"`
	Groups []*Group `yaml:"groups" json:"groups,omitempty"`
	Terms  []Code   `yaml:"terms" json:"terms,omitempty"`
	Line   int      `yaml:"-" json:"-"`
}

// AllTerms returns every term of the vocabulary, grouped ones first.
func (v *Vocabulary) AllTerms() []Code {
	var out []Code
	for _, g := range v.Groups {
		out = append(out, g.Terms...)
	}
	return append(out, v.Terms...)
}

// Group is a named group of terms, e.g. a sector of professions.
type Group struct {
	Code  string `yaml:"code" json:"code"`
	Terms []Code `yaml:"terms" json:"terms"`
	Line  int    `yaml:"-" json:"-"`
}

// Code is a code written in a list, with its line for error messages.
type Code struct {
	Value string
	Line  int
}

// UnmarshalYAML reads a scalar code and remembers its line.
func (c *Code) UnmarshalYAML(n *yaml.Node) error {
	c.Line = n.Line
	return n.Decode(&c.Value)
}

// MarshalJSON writes the code alone.
func (c Code) MarshalJSON() ([]byte, error) { return json.Marshal(c.Value) }

// UnmarshalJSON reads a code written by MarshalJSON.
func (c *Code) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &c.Value) }

// Field is a field that describes whom an exchange is about.
type Field struct {
	Code         string `yaml:"code" json:"code"`
	Type         string `yaml:"type" json:"type"`
	Vocabulary   string `yaml:"vocabulary" json:"vocabulary,omitempty"`
	PersonalData bool   `yaml:"personal_data" json:"personal_data"`
	Required     bool   `yaml:"required" json:"required"`
	Line         int    `yaml:"-" json:"-"`
}

// Kinds of broadcast: one-to-many exchanges.
const (
	Alert        = "alert"        // a warning of a serious risk, validated and disseminated
	Notification = "notification" // a new national requirement or measure, open to comments
)

// Broadcast is a type of alert or notification: the fields its sender
// fills in and the rules it follows.
type Broadcast struct {
	Code string `yaml:"code" json:"code"`
	Kind string `yaml:"kind" json:"kind"`
	// Criteria the sender must confirm, each, before an alert can be
	// sent (e.g. the three of Directive 2006/123/EC article 29(3)).
	Criteria []Code `yaml:"criteria" json:"criteria,omitempty"`
	// SendWithinDays after the date in field DeadlineFrom is the
	// deadline for sending (e.g. three days after a decision).
	SendWithinDays int    `yaml:"send_within_days" json:"send_within_days,omitempty"`
	DeadlineFrom   string `yaml:"deadline_from" json:"deadline_from,omitempty"`
	// CommentDays is a notification's comment period after broadcast.
	CommentDays int `yaml:"comment_days" json:"comment_days,omitempty"`
	// RetentionMonths after closure before personal data is blocked; the
	// area's retention_months if zero.
	RetentionMonths int      `yaml:"retention_months" json:"retention_months,omitempty"`
	Fields          []*Field `yaml:"fields" json:"fields"`
	Line            int      `yaml:"-" json:"-"`
}

// Field returns the broadcast's field with that code.
func (b *Broadcast) Field(code string) *Field {
	for _, f := range b.Fields {
		if f.Code == code {
			return f
		}
	}
	return nil
}

// UnmarshalYAML remembers the broadcast type's line.
func (b *Broadcast) UnmarshalYAML(n *yaml.Node) error {
	type plain Broadcast
	b.Line = n.Line
	return n.Decode((*plain)(b))
}

// Broadcast returns the alert or notification type with that code.
func (p *Pack) Broadcast(code string) *Broadcast {
	for _, b := range p.Broadcasts {
		if b.Code == code {
			return b
		}
	}
	return nil
}

// QuestionSet is a set of pre-translated questions, in sections.
type QuestionSet struct {
	Code     string     `yaml:"code" json:"code"`
	Sections []*Section `yaml:"sections" json:"sections"`
	Line     int        `yaml:"-" json:"-"`
}

// Questions returns the set's questions in order.
func (s *QuestionSet) Questions() []*Question {
	var out []*Question
	for _, sec := range s.Sections {
		out = append(out, sec.Questions...)
	}
	return out
}

// Section is a titled part of a question set.
type Section struct {
	Code      string      `yaml:"code" json:"code"`
	Questions []*Question `yaml:"questions" json:"questions"`
	Line      int         `yaml:"-" json:"-"`
}

// Question is one pre-translated question.
type Question struct {
	Code         string     `yaml:"code" json:"code"`
	Answer       string     `yaml:"answer" json:"answer"`
	PersonalData bool       `yaml:"personal_data" json:"personal_data"`
	Options      []Code     `yaml:"options" json:"options,omitempty"`
	AskIf        *Condition `yaml:"ask_if" json:"ask_if,omitempty"`
	Line         int        `yaml:"-" json:"-"`
}

// Condition makes a question depend on an earlier answer.
type Condition struct {
	Question string   `yaml:"question" json:"question"`
	Answers  []string `yaml:"answers" json:"answers"`
	Line     int      `yaml:"-" json:"-"`
}

// Each type with a line remembers it while decoding.
func (v *Vocabulary) UnmarshalYAML(n *yaml.Node) error {
	type plain Vocabulary
	v.Line = n.Line
	return n.Decode((*plain)(v))
}

// UnmarshalYAML remembers the group's line.
func (g *Group) UnmarshalYAML(n *yaml.Node) error {
	type plain Group
	g.Line = n.Line
	return n.Decode((*plain)(g))
}

// UnmarshalYAML remembers the field's line.
func (f *Field) UnmarshalYAML(n *yaml.Node) error {
	type plain Field
	f.Line = n.Line
	return n.Decode((*plain)(f))
}

// UnmarshalYAML remembers the set's line.
func (s *QuestionSet) UnmarshalYAML(n *yaml.Node) error {
	type plain QuestionSet
	s.Line = n.Line
	return n.Decode((*plain)(s))
}

// UnmarshalYAML remembers the section's line.
func (s *Section) UnmarshalYAML(n *yaml.Node) error {
	type plain Section
	s.Line = n.Line
	return n.Decode((*plain)(s))
}

// UnmarshalYAML remembers the question's line.
func (q *Question) UnmarshalYAML(n *yaml.Node) error {
	type plain Question
	q.Line = n.Line
	return n.Decode((*plain)(q))
}

// UnmarshalYAML remembers the condition's line.
func (c *Condition) UnmarshalYAML(n *yaml.Node) error {
	type plain Condition
	c.Line = n.Line
	return n.Decode((*plain)(c))
}

// Vocabulary returns the vocabulary with that code.
func (p *Pack) Vocabulary(code string) *Vocabulary {
	for _, v := range p.Vocabularies {
		if v.Code == code {
			return v
		}
	}
	return nil
}

// QuestionSet returns the question set with that code.
func (p *Pack) QuestionSet(code string) *QuestionSet {
	for _, s := range p.QuestionSets {
		if s.Code == code {
			return s
		}
	}
	return nil
}

// Question returns the question with that code, in any set.
func (p *Pack) Question(code string) *Question {
	for _, s := range p.QuestionSets {
		for _, q := range s.Questions() {
			if q.Code == code {
				return q
			}
		}
	}
	return nil
}

// Field returns the subject field with that code.
func (p *Pack) Field(code string) *Field {
	for _, f := range p.Subject {
		if f.Code == code {
			return f
		}
	}
	return nil
}

// Text returns a text of the pack in a language, falling back to English.
func (p *Pack) Text(lang, key string) string {
	if s, ok := p.Texts[lang][key]; ok && s != "" {
		return s
	}
	return p.Texts["en"][key]
}

// hash computes the content hash of the pack: structure and texts, in a
// canonical JSON form (maps sort their keys).
func (p *Pack) hash() string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Languages returns the languages the pack has texts in, sorted.
func (p *Pack) Languages() []string {
	var out []string
	for l := range p.Texts {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Retention of personal data in exchanges (Regulation (EU) No 1024/2012,
// article 14): blocked some months after an exchange is closed, so that
// only its existence and metadata remain provable; deleted three years
// after closure.
const (
	DefaultBlockMonths = 6
	MaxBlockMonths     = 18
	EraseYears         = 3
)

// BlockMonths is how many months after closure the personal data of an
// exchange in this area is blocked: override (a broadcast type's) if set,
// else the area's retention_months, else 6; never more than 18.
func (p *Pack) BlockMonths(override int) int {
	months := override
	if months <= 0 {
		months = p.Workflow.RetentionMonths
	}
	if months <= 0 {
		months = DefaultBlockMonths
	}
	return min(months, MaxBlockMonths)
}
