import { useId } from 'react';

export interface RadioCardOption<V extends string> {
  value: V;
  label: string;
  description: string;
}

interface Props<V extends string> {
  legend: string;
  hint?: string;
  name: string;
  options: readonly RadioCardOption<V>[];
  value: V | null;
  onChange: (value: V) => void;
  error?: string | undefined;
}

/** A radio group drawn as selectable cards; still native radios, so arrow keys and forms work. */
export function RadioCards<V extends string>({ legend, hint, name, options, value, onChange, error }: Props<V>) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  return (
    <fieldset
      className={`field radio-cards${error ? ' field--invalid' : ''}`}
      aria-describedby={[hintId, errorId].filter(Boolean).join(' ') || undefined}
    >
      <legend className="field__label">{legend}</legend>
      {hint && (
        <p id={hintId} className="field__hint">
          {hint}
        </p>
      )}
      <div className="radio-cards__options">
        {options.map((o) => (
          <label key={o.value} className="radio-card">
            <input
              type="radio"
              name={name}
              value={o.value}
              checked={value === o.value}
              onChange={() => onChange(o.value)}
              aria-invalid={error ? true : undefined}
            />
            <span className="radio-card__body">
              <span className="radio-card__label">{o.label}</span>
              <span className="radio-card__description">{o.description}</span>
            </span>
          </label>
        ))}
      </div>
      {error && (
        <p id={errorId} className="field__error">
          <span aria-hidden="true">⚠ </span>
          {error}
        </p>
      )}
    </fieldset>
  );
}
