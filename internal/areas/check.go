package areas

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// eeaCountries are the codes a workflow override may name: the EU's 27
// (Greece as EL) and Iceland, Liechtenstein and Norway.
var eeaCountries = map[string]bool{}

func init() {
	for _, c := range strings.Fields("AT BE BG HR CY CZ DK EE FI FR DE EL HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO") {
		eeaCountries[c] = true
	}
}

// seen reports duplicate codes within one scope.
type seen struct {
	c     *checker
	file  string
	what  string
	lines map[string]int
}

func (c *checker) scope(file, what string) *seen {
	return &seen{c: c, file: file, what: what, lines: map[string]int{}}
}

func (s *seen) add(code string, line int) {
	if first, ok := s.lines[code]; ok {
		s.c.add(s.file, line, fmt.Sprintf("duplicate %s code %q (first at line %d)", s.what, code, first))
		return
	}
	s.lines[code] = line
}

func choice(answer string) bool { return answer == SingleChoice || answer == MultipleChoice }

// answersOf returns the answers a question can be given, for conditions.
func answersOf(q *Question) map[string]bool {
	out := map[string]bool{}
	switch q.Answer {
	case YesNo:
		out["yes"], out["no"] = true, true
	case YesNoUnknown:
		out["yes"], out["no"], out["unknown"] = true, true, true
	case SingleChoice, MultipleChoice:
		for _, o := range q.Options {
			out[o.Value] = true
		}
	}
	return out
}

// checkStructure checks what the schema cannot: unique codes, references
// between parts, and conditions.
func (c *checker) checkStructure(file string, p *Pack) {
	vocabs := c.scope(file, "vocabulary")
	for _, v := range p.Vocabularies {
		vocabs.add(v.Code, v.Line)
		groups, terms := c.scope(file, "group"), c.scope(file, "term")
		for _, g := range v.Groups {
			groups.add(g.Code, g.Line)
		}
		for _, t := range v.AllTerms() {
			terms.add(t.Value, t.Line)
		}
	}
	c.checkFields(file, p, "subject field", p.Subject)
	c.checkBroadcasts(file, p)
	if code := p.Statistics.Category; code != "" {
		i := slices.IndexFunc(p.Subject, func(f *Field) bool { return f.Code == code })
		switch {
		case i < 0:
			c.add(file, 1, fmt.Sprintf("statistics category %q is not a subject field", code))
		case p.Subject[i].Type != "term" || p.Subject[i].PersonalData:
			c.add(file, p.Subject[i].Line, fmt.Sprintf("statistics category %q must be a term that is not personal data", code))
		}
	}
	sets, questions := c.scope(file, "question set"), c.scope(file, "question")
	for _, s := range p.QuestionSets {
		sets.add(s.Code, s.Line)
		sections := c.scope(file, "section")
		earlier := map[string]*Question{}
		for _, sec := range s.Sections {
			sections.add(sec.Code, sec.Line)
			for _, q := range sec.Questions {
				questions.add(q.Code, q.Line)
				c.checkQuestion(file, p, q, earlier)
				earlier[q.Code] = q
			}
		}
	}
	for country := range p.Workflow.Countries {
		if !eeaCountries[country] {
			c.add(file, 1, fmt.Sprintf("workflow override for %q, which is not an EEA country code", country))
		}
	}
}

// checkFields checks a list of fields (a subject, a broadcast's fields).
func (c *checker) checkFields(file string, p *Pack, what string, list []*Field) {
	fields := c.scope(file, what)
	for _, f := range list {
		fields.add(f.Code, f.Line)
		switch {
		case f.Type == "term" && f.Vocabulary == "":
			c.add(file, f.Line, fmt.Sprintf("%s %q is of type term but names no vocabulary", what, f.Code))
		case f.Type == "term" && p.Vocabulary(f.Vocabulary) == nil:
			c.add(file, f.Line, fmt.Sprintf("%s %q refers to an unknown vocabulary %q", what, f.Code, f.Vocabulary))
		case f.Type != "term" && f.Vocabulary != "":
			c.add(file, f.Line, fmt.Sprintf("%s %q names a vocabulary but is of type %s, not term", what, f.Code, f.Type))
		}
	}
}

// checkBroadcasts checks alert and notification types.
func (c *checker) checkBroadcasts(file string, p *Pack) {
	types := c.scope(file, "broadcast")
	for _, b := range p.Broadcasts {
		types.add(b.Code, b.Line)
		c.checkFields(file, p, "field of "+b.Code, b.Fields)
		criteria := c.scope(file, "criterion")
		for _, k := range b.Criteria {
			criteria.add(k.Value, k.Line)
		}
		if b.DeadlineFrom != "" {
			if f := b.Field(b.DeadlineFrom); f == nil || f.Type != "date" {
				c.add(file, b.Line, fmt.Sprintf("broadcast %q: deadline_from %q is not a date field of it", b.Code, b.DeadlineFrom))
			}
		}
		if (b.SendWithinDays > 0) != (b.DeadlineFrom != "") {
			c.add(file, b.Line, fmt.Sprintf("broadcast %q: send_within_days and deadline_from go together", b.Code))
		}
		switch b.Kind {
		case Alert:
			if !p.Workflow.Alerts {
				c.add(file, b.Line, fmt.Sprintf("broadcast %q is an alert, but workflow.alerts is false", b.Code))
			}
			if b.CommentDays > 0 {
				c.add(file, b.Line, fmt.Sprintf("broadcast %q: only notifications have a comment period", b.Code))
			}
		case Notification:
			if b.CommentDays == 0 {
				c.add(file, b.Line, fmt.Sprintf("broadcast %q: a notification needs comment_days", b.Code))
			}
			if len(b.Criteria) > 0 {
				c.add(file, b.Line, fmt.Sprintf("broadcast %q: only alerts have criteria", b.Code))
			}
			for _, f := range b.Fields {
				if f.PersonalData {
					c.add(file, f.Line, fmt.Sprintf("broadcast %q: notifications hold no personal data, but field %q is personal", b.Code, f.Code))
				}
			}
		}
	}
}

func (c *checker) checkQuestion(file string, p *Pack, q *Question, earlier map[string]*Question) {
	switch {
	case choice(q.Answer) && len(q.Options) == 0:
		c.add(file, q.Line, fmt.Sprintf("question %q is %s but has no options", q.Code, q.Answer))
	case !choice(q.Answer) && len(q.Options) > 0:
		c.add(file, q.Line, fmt.Sprintf("question %q has options but its answer type %s takes none", q.Code, q.Answer))
	}
	options := c.scope(file, "option")
	for _, o := range q.Options {
		options.add(o.Value, o.Line)
	}
	if q.AskIf == nil {
		return
	}
	cond := q.AskIf
	target, ok := earlier[cond.Question]
	if !ok {
		where := "does not exist"
		if p.Question(cond.Question) != nil {
			where = "does not come earlier in the same question set"
		}
		c.add(file, cond.Line, fmt.Sprintf("question %q is asked if %q, which %s", q.Code, cond.Question, where))
		return
	}
	valid := answersOf(target)
	if len(valid) == 0 {
		c.add(file, cond.Line, fmt.Sprintf("question %q depends on %q, whose answer type %s cannot be a condition", q.Code, cond.Question, target.Answer))
		return
	}
	for _, a := range cond.Answers {
		if !valid[a] {
			c.add(file, cond.Line, fmt.Sprintf("question %q depends on answer %q of %q, which is not one of its answers (%s)", q.Code, a, cond.Question, strings.Join(sortedKeys(valid), ", ")))
		}
	}
}

// requiredTexts lists the text keys the structure needs, each with the
// line in area.yaml of the part that needs it.
func requiredTexts(p *Pack) map[string]bool {
	keys := map[string]bool{"area.name": true, "area.description": true}
	for _, v := range p.Vocabularies {
		keys["vocabularies."+v.Code+".name"] = true
		for _, g := range v.Groups {
			keys["vocabularies."+v.Code+".groups."+g.Code] = true
		}
		for _, t := range v.AllTerms() {
			keys["vocabularies."+v.Code+".terms."+t.Value] = true
		}
	}
	for _, f := range p.Subject {
		keys["subject."+f.Code] = true
	}
	for _, b := range p.Broadcasts {
		prefix := "broadcasts." + b.Code
		keys[prefix+".name"], keys[prefix+".description"] = true, true
		for _, k := range b.Criteria {
			keys[prefix+".criteria."+k.Value] = true
		}
		for _, f := range b.Fields {
			keys[prefix+".fields."+f.Code] = true
		}
	}
	for _, s := range p.QuestionSets {
		keys["question_sets."+s.Code+".name"] = true
		keys["question_sets."+s.Code+".description"] = true
		for _, sec := range s.Sections {
			keys["question_sets."+s.Code+".sections."+sec.Code] = true
		}
		for _, q := range s.Questions() {
			keys["questions."+q.Code+".text"] = true
			for _, o := range q.Options {
				keys["questions."+q.Code+".options."+o.Value] = true
			}
		}
	}
	return keys
}

var placeholderRe = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)

func placeholdersIn(s string) []string {
	set := map[string]bool{}
	for _, m := range placeholderRe.FindAllStringSubmatch(s, -1) {
		set[m[1]] = true
	}
	return sortedKeys(set)
}

// checkTexts checks every language's texts against the structure and
// against English.
func (c *checker) checkTexts(p *Pack, lines map[string]map[string]int) {
	en, ok := p.Texts["en"]
	if !ok {
		return // reported when the file was read
	}
	need := requiredTexts(p)
	for key := range en {
		if strings.HasSuffix(key, ".help") && strings.HasPrefix(key, "questions.") {
			need[key] = true // optional, but once in English, needed in every language
		}
	}
	enFile := path.Join(c.dir, "texts", "en.yaml")
	for _, key := range sortedKeys(en) {
		if !strings.HasPrefix(key, "questions.") || !strings.HasSuffix(key, ".text") {
			continue
		}
		for _, ph := range placeholdersIn(en[key]) {
			if p.Field(ph) == nil {
				c.add(enFile, lines["en"][key], fmt.Sprintf("%s: placeholder {%s} is not a subject field", key, ph))
			}
		}
	}
	for _, lang := range p.Languages() {
		texts, at := p.Texts[lang], lines[lang]
		file := path.Join(c.dir, "texts", lang+".yaml")
		for _, key := range sortedKeys(need) {
			if _, ok := texts[key]; !ok {
				c.add(file, parentLine(at, key), fmt.Sprintf("missing text %q", key))
			}
		}
		for _, key := range sortedKeys(texts) {
			if !need[key] {
				c.add(file, at[key], fmt.Sprintf("unknown text %q: area.yaml has no such code (or English has no such help)", key))
				continue
			}
			if strings.TrimSpace(texts[key]) == "" {
				c.add(file, at[key], fmt.Sprintf("empty text %q", key))
			}
			if lang == "en" {
				continue
			}
			want, got := placeholdersIn(en[key]), placeholdersIn(texts[key])
			if strings.Join(want, ",") != strings.Join(got, ",") {
				c.add(file, at[key], fmt.Sprintf("%s: placeholders %s differ from English %s", key, braces(got), braces(want)))
			}
		}
	}
}

func braces(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = "{" + p + "}"
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// parentLine is the line of the nearest existing parent of a missing key.
func parentLine(at map[string]int, key string) int {
	for k := key; k != ""; {
		i := strings.LastIndex(k, ".")
		if i < 0 {
			break
		}
		k = k[:i]
		if l, ok := at[k]; ok {
			return l
		}
	}
	return 1
}
