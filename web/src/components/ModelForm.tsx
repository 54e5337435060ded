import { useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { ModelInput, ModelType, Visibility } from '../api/types.ts';
import { hasErrors, toFormErrors, type FormErrors } from '../lib/field-errors.ts';
import { MODEL_TYPES, VISIBILITIES } from '../lib/model-labels.ts';
import { focusFirstInvalid } from '../lib/focus.ts';
import { TextAreaField, TextField } from './Field.tsx';
import { RadioCards } from './RadioCards.tsx';
import { FormAlert } from './States.tsx';

type Field = keyof ModelInput;
const FIELDS: Field[] = ['name', 'description', 'visibility', 'modelType'];
export const NAME_MAX = 80;
export const DESCRIPTION_MAX = 2000;

interface Props {
  initial?: ModelInput;
  submitLabel: string;
  busyLabel: string;
  busy: boolean;
  /** Resolves when saved; rejects with the API error to show next to the fields. */
  onSubmit: (input: ModelInput) => Promise<unknown>;
  secondaryAction?: ReactNode;
}

/** Basic information of a model (the guide's step 2), used to create and to edit. */
export function ModelForm({ initial, submitLabel, busyLabel, busy, onSubmit, secondaryAction }: Props) {
  const [name, setName] = useState(initial?.name ?? '');
  const [description, setDescription] = useState(initial?.description ?? '');
  const [visibility, setVisibility] = useState<Visibility>(initial?.visibility ?? 'private');
  const [modelType, setModelType] = useState<ModelType | null>(initial?.modelType ?? null);
  const [errors, setErrors] = useState<FormErrors<Field>>({ fields: {} });
  const formRef = useRef<HTMLFormElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const fields: FormErrors<Field>['fields'] = {};
    if (!name.trim()) fields.name = 'Give your model a name.';
    else if (name.trim().length > NAME_MAX) fields.name = `Model names are at most ${NAME_MAX} characters.`;
    if (description.trim().length > DESCRIPTION_MAX) fields.description = `Descriptions are at most 2,000 characters.`;
    if (!modelType) fields.modelType = 'Choose what your model will learn: a person or character, a style, or an object.';
    if (hasErrors(fields) || !modelType) {
      setErrors({ fields });
      focusFirstInvalid(formRef.current);
      return;
    }
    setErrors({ fields: {} });
    try {
      await onSubmit({ name: name.trim(), description: description.trim(), visibility, modelType });
    } catch (err) {
      setErrors(toFormErrors(err, FIELDS));
      focusFirstInvalid(formRef.current);
    }
  };

  return (
    <form ref={formRef} className="form form--wide" onSubmit={(e) => void submit(e)} noValidate>
      <FormAlert message={errors.form} />
      <TextField
        label="Model name"
        name="name"
        hint="Give your model a descriptive name, like “Mia portraits” or “Ink wash landscapes”."
        value={name}
        onChange={(e) => setName(e.target.value)}
        error={errors.fields.name}
        maxLength={NAME_MAX}
        autoComplete="off"
        required
      />
      <TextAreaField
        label="Description"
        name="description"
        optional
        hint="Optional but recommended: what the model shows, and anything that helps you write prompts later."
        value={description}
        onChange={(e) => setDescription(e.target.value)}
        error={errors.fields.description}
        rows={4}
        maxLength={DESCRIPTION_MAX}
      />
      <RadioCards
        legend="Model type"
        hint="What should your model learn?"
        name="modelType"
        options={MODEL_TYPES}
        value={modelType}
        onChange={setModelType}
        error={errors.fields.modelType}
      />
      <RadioCards
        legend="Visibility"
        hint="Choose whether to make your model public or private. You can change this later."
        name="visibility"
        options={VISIBILITIES}
        value={visibility}
        onChange={setVisibility}
        error={errors.fields.visibility}
      />
      <div className="form__actions">
        <button type="submit" className="button button--primary" disabled={busy}>
          {busy ? busyLabel : submitLabel}
        </button>
        {secondaryAction}
      </div>
    </form>
  );
}
