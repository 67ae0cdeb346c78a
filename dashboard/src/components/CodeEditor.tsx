import { yaml } from "@codemirror/lang-yaml";
import { EditorState, type Extension } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { useEffect, useRef } from "react";

interface CodeEditorProps {
  value: string;
  onChange?: (value: string) => void;
  language?: "yaml" | "text";
  readOnly?: boolean;
  label: string;
  testId?: string;
}

/** A CodeMirror 6 editor. `value` seeds it (and replaces its text when it changes from outside). */
export function CodeEditor({ value, onChange, language = "text", readOnly = false, label, testId }: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const extensions: Extension[] = [
      basicSetup,
      EditorView.lineWrapping,
      EditorState.readOnly.of(readOnly),
      EditorView.editable.of(!readOnly),
      EditorView.contentAttributes.of({ "aria-label": label }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) changed.current?.(update.state.doc.toString());
      }),
      EditorView.theme({ "&": { backgroundColor: "var(--card)" }, ".cm-gutters": { backgroundColor: "var(--muted)", border: "none" } }),
    ];
    if (language === "yaml") extensions.push(yaml());
    view.current = new EditorView({ parent: host.current, state: EditorState.create({ doc: value, extensions }) });
    return () => {
      view.current?.destroy();
      view.current = null;
    };
    // The editor is built once per language/readOnly; text changes go through the effect below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [language, readOnly, label]);

  useEffect(() => {
    const current = view.current;
    if (current && current.state.doc.toString() !== value) {
      current.dispatch({ changes: { from: 0, to: current.state.doc.length, insert: value } });
    }
  }, [value]);

  return <div ref={host} data-testid={testId} className="overflow-hidden rounded-lg border bg-card" />;
}
