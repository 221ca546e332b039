package areas

import (
	"regexp"
)

// Localized is a pack with its texts in one language: what the pages and
// the API show.
type Localized struct {
	Code         string                 `json:"code"`
	Version      int                    `json:"version"`
	Language     string                 `json:"language"`
	Name         string                 `json:"name"`
	Description  string                 `json:"description"`
	LegalBasis   []string               `json:"legal_basis"`
	Workflow     Workflow               `json:"workflow"`
	Subject      []LocalizedField       `json:"subject"`
	Vocabularies []LocalizedVocabulary  `json:"vocabularies"`
	QuestionSets []LocalizedQuestionSet `json:"question_sets"`
	Broadcasts   []LocalizedBroadcast   `json:"broadcasts,omitempty"`
}

// LocalizedBroadcast is an alert or notification type with its texts.
type LocalizedBroadcast struct {
	Code           string           `json:"code"`
	Kind           string           `json:"kind"`
	Name           string           `json:"name"`
	Description    string           `json:"description"`
	Criteria       []LocalizedTerm  `json:"criteria,omitempty"`
	SendWithinDays int              `json:"send_within_days,omitempty"`
	DeadlineFrom   string           `json:"deadline_from,omitempty"`
	CommentDays    int              `json:"comment_days,omitempty"`
	Fields         []LocalizedField `json:"fields"`
}

// LocalizedField is a subject field with its label.
type LocalizedField struct {
	Code         string `json:"code"`
	Label        string `json:"label"`
	Type         string `json:"type"`
	Vocabulary   string `json:"vocabulary,omitempty"`
	PersonalData bool   `json:"personal_data"`
	Required     bool   `json:"required"`
}

// LocalizedVocabulary is a vocabulary with its term names.
type LocalizedVocabulary struct {
	Code   string           `json:"code"`
	Name   string           `json:"name"`
	Groups []LocalizedGroup `json:"groups,omitempty"`
	Terms  []LocalizedTerm  `json:"terms,omitempty"`
	Count  int              `json:"count"`
}

// LocalizedGroup is a group of terms with its name.
type LocalizedGroup struct {
	Code  string          `json:"code"`
	Name  string          `json:"name"`
	Terms []LocalizedTerm `json:"terms"`
}

// LocalizedTerm is a term's code and name.
type LocalizedTerm struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// LocalizedQuestionSet is a question set with its texts.
type LocalizedQuestionSet struct {
	Code        string             `json:"code"`
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Sections    []LocalizedSection `json:"sections"`
	Count       int                `json:"count"`
}

// LocalizedSection is a section with its title.
type LocalizedSection struct {
	Code      string              `json:"code"`
	Name      string              `json:"name"`
	Questions []LocalizedQuestion `json:"questions"`
}

// LocalizedQuestion is a question with its text. Text keeps its {field}
// placeholders; Display shows them as the fields' names in brackets.
type LocalizedQuestion struct {
	Code         string            `json:"code"`
	Number       int               `json:"number"`
	Answer       string            `json:"answer"`
	PersonalData bool              `json:"personal_data"`
	Text         string            `json:"text"`
	Display      string            `json:"-"`
	Help         string            `json:"help,omitempty"`
	Options      []LocalizedTerm   `json:"options,omitempty"`
	AskIf        *Condition        `json:"ask_if,omitempty"`
	Placeholders map[string]string `json:"placeholders,omitempty"`
}

var fieldPlaceholder = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)

// In returns the pack with its texts in lang (English where a text is
// missing, which the validator does not let happen for shipped packs).
// Packs do not change once loaded, so each language is built once; callers
// must not modify what they get.
func (p *Pack) In(lang string) Localized {
	if _, ok := p.Texts[lang]; !ok {
		lang = "en"
	}
	if l, ok := p.localized.Load(lang); ok {
		return l.(Localized)
	}
	l := p.localize(lang)
	p.localized.Store(lang, l)
	return l
}

func (p *Pack) localize(lang string) Localized {
	l := Localized{Code: p.Code, Version: p.Version, Language: lang, Name: p.Text(lang, "area.name"),
		Description: p.Text(lang, "area.description"), LegalBasis: p.LegalBasis, Workflow: p.Workflow}
	for _, f := range p.Subject {
		l.Subject = append(l.Subject, LocalizedField{Code: f.Code, Label: p.Text(lang, "subject."+f.Code), Type: f.Type,
			Vocabulary: f.Vocabulary, PersonalData: f.PersonalData, Required: f.Required})
	}
	for _, v := range p.Vocabularies {
		prefix := "vocabularies." + v.Code
		lv := LocalizedVocabulary{Code: v.Code, Name: p.Text(lang, prefix+".name"), Count: len(v.AllTerms())}
		terms := func(codes []Code) []LocalizedTerm {
			out := make([]LocalizedTerm, len(codes))
			for i, t := range codes {
				out[i] = LocalizedTerm{Code: t.Value, Name: p.Text(lang, prefix+".terms."+t.Value)}
			}
			return out
		}
		for _, g := range v.Groups {
			lv.Groups = append(lv.Groups, LocalizedGroup{Code: g.Code, Name: p.Text(lang, prefix+".groups."+g.Code), Terms: terms(g.Terms)})
		}
		lv.Terms = terms(v.Terms)
		l.Vocabularies = append(l.Vocabularies, lv)
	}
	for _, b := range p.Broadcasts {
		prefix := "broadcasts." + b.Code
		lb := LocalizedBroadcast{Code: b.Code, Kind: b.Kind, Name: p.Text(lang, prefix+".name"), Description: p.Text(lang, prefix+".description"),
			SendWithinDays: b.SendWithinDays, DeadlineFrom: b.DeadlineFrom, CommentDays: b.CommentDays}
		for _, k := range b.Criteria {
			lb.Criteria = append(lb.Criteria, LocalizedTerm{Code: k.Value, Name: p.Text(lang, prefix+".criteria."+k.Value)})
		}
		for _, f := range b.Fields {
			lb.Fields = append(lb.Fields, LocalizedField{Code: f.Code, Label: p.Text(lang, prefix+".fields."+f.Code), Type: f.Type,
				Vocabulary: f.Vocabulary, PersonalData: f.PersonalData, Required: f.Required})
		}
		l.Broadcasts = append(l.Broadcasts, lb)
	}
	for _, s := range p.QuestionSets {
		ls := LocalizedQuestionSet{Code: s.Code, Name: p.Text(lang, "question_sets."+s.Code+".name"),
			Description: p.Text(lang, "question_sets."+s.Code+".description"), Count: len(s.Questions())}
		n := 0
		for _, sec := range s.Sections {
			lsec := LocalizedSection{Code: sec.Code, Name: p.Text(lang, "question_sets."+s.Code+".sections."+sec.Code)}
			for _, q := range sec.Questions {
				n++
				lq := LocalizedQuestion{Code: q.Code, Number: n, Answer: q.Answer, PersonalData: q.PersonalData,
					Text: p.Text(lang, "questions."+q.Code+".text"), AskIf: q.AskIf}
				if p.Texts["en"]["questions."+q.Code+".help"] != "" {
					lq.Help = p.Text(lang, "questions."+q.Code+".help")
				}
				for _, o := range q.Options {
					lq.Options = append(lq.Options, LocalizedTerm{Code: o.Value, Name: p.Text(lang, "questions."+q.Code+".options."+o.Value)})
				}
				lq.Display = fieldPlaceholder.ReplaceAllStringFunc(lq.Text, func(m string) string {
					code := m[1 : len(m)-1]
					if lq.Placeholders == nil {
						lq.Placeholders = map[string]string{}
					}
					label := p.Text(lang, "subject."+code)
					lq.Placeholders[code] = label
					return "[" + label + "]"
				})
				lsec.Questions = append(lsec.Questions, lq)
			}
			ls.Sections = append(ls.Sections, lsec)
		}
		l.QuestionSets = append(l.QuestionSets, ls)
	}
	return l
}

// QuestionSet returns a localized question set by code.
func (l Localized) QuestionSet(code string) *LocalizedQuestionSet {
	for i := range l.QuestionSets {
		if l.QuestionSets[i].Code == code {
			return &l.QuestionSets[i]
		}
	}
	return nil
}

// Broadcast returns a localized alert or notification type by code.
func (l Localized) Broadcast(code string) *LocalizedBroadcast {
	for i := range l.Broadcasts {
		if l.Broadcasts[i].Code == code {
			return &l.Broadcasts[i]
		}
	}
	return nil
}

// Vocabulary returns a localized vocabulary by code.
func (l Localized) Vocabulary(code string) *LocalizedVocabulary {
	for i := range l.Vocabularies {
		if l.Vocabularies[i].Code == code {
			return &l.Vocabularies[i]
		}
	}
	return nil
}

// Question returns a localized question by code, in any set.
func (l Localized) Question(code string) *LocalizedQuestion {
	for _, s := range l.QuestionSets {
		for _, sec := range s.Sections {
			for i := range sec.Questions {
				if sec.Questions[i].Code == code {
					return &sec.Questions[i]
				}
			}
		}
	}
	return nil
}
