import type { SettingErrors, SettingField, SettingValues } from "@/lib/settingsForm";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";

interface SettingsFormProps {
  fields: SettingField[];
  values: SettingValues;
  errors: SettingErrors;
  onChange: (key: string, value: string) => void;
  disabled?: boolean;
}

/** The variable a setting sets, next to its label in words (what the compose file and .env say). */
function KeyHint({ field }: { field: SettingField }) {
  if (field.label === field.key) return null;
  return <code className="ml-auto rounded bg-muted px-1 py-0.5 font-mono text-[0.7rem] font-normal text-muted-foreground">{field.key}</code>;
}

/** The inputs of a template's settings, one per field, labelled in words with the variable as a hint. */
export function SettingsFields({ fields, values, errors, onChange, disabled }: SettingsFormProps) {
  return (
    <div className="grid gap-4 sm:grid-cols-2">
      {fields.map((field) => {
        const id = `setting-${field.key}`;
        const error = errors[field.key];
        const describedBy = [field.help ? `${id}-help` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
        const common = { id, "aria-invalid": error ? true : undefined, "aria-describedby": describedBy, disabled };
        return (
          <div key={field.key} className={field.kind === "bool" ? "flex flex-col justify-center gap-1.5" : "grid content-start gap-1.5"}>
            {field.kind === "bool" ? (
              <label htmlFor={id} className="flex items-center gap-2 text-sm font-medium">
                <input
                  type="checkbox"
                  {...common}
                  className="size-4 accent-[var(--primary)]"
                  checked={values[field.key] === "true"}
                  onChange={(e) => onChange(field.key, e.target.checked ? "true" : "false")}
                />
                {field.label}
                <KeyHint field={field} />
              </label>
            ) : (
              <>
                <Label htmlFor={id}>
                  {field.label}
                  {field.required && field.kind !== "password" && <span className="text-destructive" aria-hidden>*</span>}
                  <KeyHint field={field} />
                </Label>
                {field.kind === "choice" ? (
                  <NativeSelect {...common} value={values[field.key] ?? ""} onChange={(e) => onChange(field.key, e.target.value)}>
                    {field.choices.map((choice) => (
                      <option key={choice} value={choice}>
                        {choice}
                      </option>
                    ))}
                  </NativeSelect>
                ) : (
                  <Input
                    {...common}
                    type={field.kind === "password" ? "password" : field.kind === "int" ? "number" : "text"}
                    inputMode={field.kind === "int" ? "numeric" : undefined}
                    autoComplete={field.kind === "password" ? "new-password" : "off"}
                    placeholder={field.kind === "password" ? "Leave empty to generate" : undefined}
                    value={values[field.key] ?? ""}
                    required={field.required && field.kind !== "password"}
                    onChange={(e) => onChange(field.key, e.target.value)}
                  />
                )}
              </>
            )}
            {field.note && (
              <p className="text-xs text-[oklch(0.5_0.13_70)]" data-testid={`setting-note-${field.key}`}>
                {field.note[0].toUpperCase() + field.note.slice(1)}.
              </p>
            )}
            {field.help && (
              <p id={`${id}-help`} className="text-xs text-muted-foreground">
                {field.help}
              </p>
            )}
            {error && (
              <p id={`${id}-error`} className="text-xs text-destructive">
                {error}
              </p>
            )}
          </div>
        );
      })}
    </div>
  );
}
