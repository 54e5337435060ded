/** Moves focus to the first field marked invalid, or to the form's error alert, after React re-renders. */
export function focusFirstInvalid(form: HTMLFormElement | null): void {
  requestAnimationFrame(() => {
    const invalid = form?.querySelector<HTMLElement>('[aria-invalid="true"]');
    if (invalid) {
      invalid.focus();
      return;
    }
    const alert = form?.parentElement?.querySelector<HTMLElement>('.alert--error');
    if (alert) {
      alert.tabIndex = -1;
      alert.focus();
    }
  });
}
