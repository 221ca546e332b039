package areas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/openimi/openimi/internal/areas/schema"
	"github.com/openimi/openimi/internal/i18n"
)

// Problem is one thing wrong with a pack: where, and why.
type Problem struct {
	File   string
	Line   int
	Reason string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason) }

// Problems is every problem found in one or more packs.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns the problems as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Load reads every pack below root in fsys: root itself when it holds an
// area.yaml, else each of its sub-folders that does. It returns the valid
// packs and every problem found; a pack with problems is not returned.
func Load(fsys fs.FS, root string) ([]*Pack, Problems) {
	if _, err := fs.Stat(fsys, path.Join(root, "area.yaml")); err == nil {
		p, problems := loadPack(fsys, root)
		if p == nil {
			return nil, problems
		}
		return []*Pack{p}, problems
	}
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, Problems{{File: root, Reason: "cannot read the folder: " + err.Error()}}
	}
	var packs []*Pack
	var problems Problems
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := path.Join(root, e.Name())
		if _, err := fs.Stat(fsys, path.Join(dir, "area.yaml")); err != nil {
			continue
		}
		p, ps := loadPack(fsys, dir)
		problems = append(problems, ps...)
		if p != nil {
			packs = append(packs, p)
		}
	}
	if len(packs) == 0 && len(problems) == 0 {
		problems = append(problems, Problem{File: root, Reason: "no pack found (a pack is a folder with an area.yaml)"})
	}
	return packs, problems
}

// loadPack reads and checks one pack folder.
func loadPack(fsys fs.FS, dir string) (*Pack, Problems) {
	c := &checker{dir: dir}
	areaFile := path.Join(dir, "area.yaml")
	node := c.parse(fsys, areaFile)
	if node == nil {
		return nil, c.problems
	}
	if !c.validate(areaFile, node, areaSchema) {
		return nil, c.problems
	}
	var p Pack
	if err := node.Decode(&p); err != nil {
		c.add(areaFile, 1, err.Error())
		return nil, c.problems
	}
	if base := path.Base(dir); base != p.Code && base != "." {
		c.add(areaFile, lineOf(node, "code"), fmt.Sprintf("the area code %q must be the folder's name %q", p.Code, base))
	}
	c.checkStructure(areaFile, &p)
	p.Texts = map[string]map[string]string{}
	lines := map[string]map[string]int{}
	for _, l := range i18n.Languages {
		file := path.Join(dir, "texts", l.Code+".yaml")
		n := c.parse(fsys, file)
		if n == nil || !c.validate(file, n, textsSchema) {
			continue
		}
		texts, at := map[string]string{}, map[string]int{}
		flatten(n, "", texts, at)
		p.Texts[l.Code], lines[l.Code] = texts, at
	}
	c.checkTexts(&p, lines)
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	p.Hash = p.hash()
	return &p, nil
}

type checker struct {
	dir      string
	problems Problems
}

func (c *checker) add(file string, line int, reason string) {
	c.problems = append(c.problems, Problem{File: file, Line: line, Reason: reason})
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// parse reads a YAML file into a node tree, reporting syntax errors with
// their line.
func (c *checker) parse(fsys fs.FS, file string) *yaml.Node {
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		c.add(file, 0, "missing file")
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		c.add(file, line, "not valid YAML: "+strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if len(doc.Content) == 0 {
		c.add(file, 1, "the file is empty")
		return nil
	}
	return doc.Content[0]
}

var (
	areaSchema  = compile("area.schema.json", schema.Area)
	textsSchema = compile("texts.schema.json", schema.Texts)
	printer     = message.NewPrinter(language.English)
)

func compile(name string, doc []byte) *jsonschema.Schema {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		panic("areas: schema " + name + ": " + err.Error())
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource(name, v); err != nil {
		panic(err)
	}
	return comp.MustCompile(name)
}

// validate checks a node tree against a JSON Schema and reports each
// failure at the line of the value concerned.
func (c *checker) validate(file string, node *yaml.Node, sch *jsonschema.Schema) bool {
	var v any
	if err := node.Decode(&v); err != nil {
		c.add(file, node.Line, err.Error())
		return false
	}
	b, err := json.Marshal(v)
	if err != nil {
		c.add(file, node.Line, "cannot be read as data: "+err.Error())
		return false
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		c.add(file, node.Line, err.Error())
		return false
	}
	err = sch.Validate(inst)
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err == nil
	}
	var leaves []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
		}
		for _, cause := range e.Causes {
			walk(cause)
		}
	}
	walk(verr)
	seen := map[string]bool{}
	for _, e := range leaves {
		where := strings.Join(e.InstanceLocation, ".")
		reason := e.ErrorKind.LocalizedString(printer)
		if where != "" {
			reason = where + ": " + reason
		}
		if seen[reason] {
			continue
		}
		seen[reason] = true
		c.add(file, lineOf(node, e.InstanceLocation...), reason)
	}
	return false
}

// lineOf returns the line of the value at a path (map keys and list
// indexes) below node, or of the deepest part of it that exists.
func lineOf(node *yaml.Node, path ...string) int {
	line := node.Line
	for _, step := range path {
		switch node.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(node.Content); i += 2 {
				if k, v := node.Content[i], node.Content[i+1]; k.Value == step {
					next, line = v, k.Line
					if v.Kind == yaml.ScalarNode {
						line = v.Line
					}
					break
				}
			}
			if next == nil {
				return line
			}
			node = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(step)
			if err != nil || i >= len(node.Content) {
				return line
			}
			node = node.Content[i]
			line = node.Line
		default:
			return line
		}
	}
	return line
}

// flatten turns a texts tree into dotted keys ("questions.q1.text") with
// their values and lines.
func flatten(n *yaml.Node, prefix string, out map[string]string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			if v.Kind == yaml.ScalarNode {
				out[key], lines[key] = v.Value, k.Line
				continue
			}
			lines[key] = k.Line
			flatten(v, key, out, lines)
		}
	case yaml.ScalarNode:
		out[prefix] = n.Value
	}
}

// sortedKeys returns a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
