// ddmsp-health evaluates health the way GitOps tools do, for ddmsp's tests:
//
//	ddmsp-health lua SCRIPT OBJECT.yaml...   Argo CD: run a resource_customizations health.lua
//	                                         in gopher-lua (the interpreter Argo CD embeds)
//	ddmsp-health lua-test DIR                run DIR/health_test.yaml against DIR/health.lua
//	ddmsp-health kstatus OBJECT.yaml...      kstatus (sigs.k8s.io/cli-utils), as Flux uses it
//
// Every command prints one JSON document on stdout.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type health struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// readObject decodes a YAML or JSON object the way client-go does (integers stay int64,
// which kstatus's accessors require).
func readObject(path string) (map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u.Object, nil
}

// toLua converts decoded JSON into Lua values like Argo CD does: objects become tables
// keyed by string, arrays become 1-indexed tables.
func toLua(l *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []interface{}:
		t := l.NewTable()
		for _, item := range x {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]interface{}:
		t := l.NewTable()
		for k, item := range x {
			t.RawSetString(k, toLua(l, item))
		}
		return t
	default:
		return lua.LString(fmt.Sprint(x))
	}
}

// newVM opens the libraries Argo CD opens for health scripts (no io, no os, no package
// loading beyond the basics).
func newVM() *lua.LState {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		l.Push(l.NewFunction(lib.fn))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	return l
}

func runLua(script string, obj map[string]interface{}) (health, error) {
	l := newVM()
	defer l.Close()
	// Argo CD round-trips the object through JSON first: numbers are float64.
	raw, _ := json.Marshal(obj)
	var decoded interface{}
	_ = json.Unmarshal(raw, &decoded)
	l.SetGlobal("obj", toLua(l, decoded))
	if err := l.DoString(script); err != nil {
		return health{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("health script returned %s, not a table", l.Get(-1).Type())
	}
	return health{Status: lua.LVAsString(ret.RawGetString("status")),
		Message: lua.LVAsString(ret.RawGetString("message"))}, nil
}

type testCase struct {
	HealthStatus health `json:"healthStatus"`
	InputPath    string `json:"inputPath"`
}

type testFile struct {
	Tests []testCase `json:"tests"`
}

type testResult struct {
	InputPath string `json:"inputPath"`
	Want      health `json:"want"`
	Got       health `json:"got"`
	Error     string `json:"error,omitempty"`
	Pass      bool   `json:"pass"`
}

func luaTest(dir string) (interface{}, error) {
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
	if err != nil {
		return nil, err
	}
	var tf testFile
	if err := yaml.Unmarshal(raw, &tf); err != nil {
		return nil, err
	}
	results := []testResult{}
	for _, tc := range tf.Tests {
		r := testResult{InputPath: tc.InputPath, Want: tc.HealthStatus}
		obj, err := readObject(filepath.Join(dir, tc.InputPath))
		if err == nil {
			r.Got, err = runLua(string(script), obj)
		}
		if err != nil {
			r.Error = err.Error()
		}
		// Argo CD's own test runner compares status and message exactly.
		r.Pass = err == nil && r.Got == r.Want
		results = append(results, r)
	}
	return results, nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: ddmsp-health lua SCRIPT OBJ...|lua-test DIR|kstatus OBJ...")
		os.Exit(2)
	}
	var out interface{}
	var err error
	switch os.Args[1] {
	case "lua":
		script, e := os.ReadFile(os.Args[2])
		if e != nil {
			err = e
			break
		}
		results := []health{}
		for _, path := range os.Args[3:] {
			obj, e := readObject(path)
			if e != nil {
				err = e
				break
			}
			h, e := runLua(string(script), obj)
			if e != nil {
				err = e
				break
			}
			results = append(results, h)
		}
		out = results
	case "lua-test":
		out, err = luaTest(os.Args[2])
	case "kstatus":
		results := []health{}
		for _, path := range os.Args[2:] {
			obj, e := readObject(path)
			if e != nil {
				err = e
				break
			}
			res, e := status.Compute(&unstructured.Unstructured{Object: obj})
			if e != nil {
				err = e
				break
			}
			results = append(results, health{Status: res.Status.String(), Message: res.Message})
		}
		out = results
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ddmsp-health:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
