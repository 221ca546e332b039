package web

import (
	"net/http"
	"strings"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
)

// The pages of this file show legislative areas as their packs define
// them, in the reader's language (areas.Pack.In does the translating).

type areaSummary struct {
	areas.Localized
	Acts []legalAct
}

type legalAct struct {
	CELEX, URL string
}

// eurLexLanguages are the languages EUR-Lex publishes legal acts in.
var eurLexLanguages = map[string]bool{}

func init() {
	for _, l := range strings.Fields("bg cs da de el en es et fi fr ga hr hu it lt lv mt nl pl pt ro sk sl sv") {
		eurLexLanguages[l] = true
	}
}

func summarize(p *areas.Pack, lang string) areaSummary {
	l := p.In(lang)
	if !eurLexLanguages[lang] {
		lang = "en"
	}
	s := areaSummary{Localized: l}
	for _, c := range p.LegalBasis {
		s.Acts = append(s.Acts, legalAct{CELEX: c, URL: "https://eur-lex.europa.eu/legal-content/" + strings.ToUpper(lang) + "/TXT/?uri=CELEX:" + c})
	}
	return s
}

func (s *Server) areasPage(w http.ResponseWriter, r *http.Request) error {
	lang := visitOf(r).lang.Lang()
	var list []areaSummary
	for _, p := range s.areas.Packs() {
		list = append(list, summarize(p, lang))
	}
	s.render(w, r, http.StatusOK, "areas", page{TitleKey: "areas_title", Data: list})
	return nil
}

func (s *Server) areaPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.areas.Pack(r.PathValue("area"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "area", page{TitleKey: "area_title", Heading: p.In(visitOf(r).lang.Lang()).Name, Data: summarize(p, visitOf(r).lang.Lang())})
	return nil
}

type vocabularyView struct {
	Area areaSummary
	*areas.LocalizedVocabulary
}

func (s *Server) vocabularyPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.areas.Pack(r.PathValue("area"))
	if err != nil {
		return err
	}
	a := summarize(p, visitOf(r).lang.Lang())
	v := a.Vocabulary(r.PathValue("vocabulary"))
	if v == nil {
		return problem.New(problem.NotFound, "error_not_found")
	}
	s.render(w, r, http.StatusOK, "vocabulary", page{TitleKey: "vocabulary_title", Heading: v.Name, Data: vocabularyView{Area: a, LocalizedVocabulary: v}})
	return nil
}

// questionSetView shows a question set in the reader's language and,
// optionally, side by side in a second one.
type questionSetView struct {
	Area      areaSummary
	Set       *areas.LocalizedQuestionSet
	Lang      *i18n.Language
	Compare   *i18n.Language
	Sections  []sectionPair
	Languages []i18n.Language
}

type sectionPair struct {
	A, B      areas.LocalizedSection
	Questions []questionPair
}

type questionPair struct {
	A, B      areas.LocalizedQuestion
	Condition *conditionView
}

type conditionView struct {
	Question string
	Answers  []string
}

func language(code string) *i18n.Language {
	for _, l := range i18n.Languages {
		if l.Code == code {
			return &l
		}
	}
	return nil
}

func (s *Server) questionSetPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.areas.Pack(r.PathValue("area"))
	if err != nil {
		return err
	}
	l := visitOf(r).lang
	a := summarize(p, l.Lang())
	set := a.QuestionSet(r.PathValue("set"))
	if set == nil {
		return problem.New(problem.NotFound, "error_not_found")
	}
	v := questionSetView{Area: a, Set: set, Lang: language(l.Lang()), Languages: i18n.Languages}
	other := set
	if code := r.URL.Query().Get("compare"); code != "" {
		if !i18n.Supported(code) {
			return problem.Field("compare", "error_language_unknown")
		}
		v.Compare = language(code)
		other = p.In(code).QuestionSet(set.Code)
	}
	for i, sec := range set.Sections {
		pair := sectionPair{A: sec, B: other.Sections[i]}
		for j, q := range sec.Questions {
			qp := questionPair{A: q, B: other.Sections[i].Questions[j]}
			if q.AskIf != nil {
				target := a.Question(q.AskIf.Question)
				cv := &conditionView{Question: target.Display}
				for _, ans := range q.AskIf.Answers {
					cv.Answers = append(cv.Answers, answerLabel(l, target, ans))
				}
				qp.Condition = cv
			}
			pair.Questions = append(pair.Questions, qp)
		}
		v.Sections = append(v.Sections, pair)
	}
	s.render(w, r, http.StatusOK, "question_set", page{TitleKey: "question_set_title", Heading: set.Name, Data: v})
	return nil
}

// answerLabel names an answer of a question: a shared label for yes, no and
// unknown, the option's text otherwise.
func answerLabel(l *i18n.Localizer, q *areas.LocalizedQuestion, answer string) string {
	switch answer {
	case "yes", "no", "unknown":
		return l.T("answer_" + answer)
	}
	for _, o := range q.Options {
		if o.Code == answer {
			return o.Name
		}
	}
	return answer
}
