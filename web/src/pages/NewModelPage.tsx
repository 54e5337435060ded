import { Link, useNavigate } from 'react-router';
import { useCreateModel } from '../api/queries.ts';
import { ModelForm } from '../components/ModelForm.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { StepIndicator } from '../components/StepIndicator.tsx';

export function NewModelPage() {
  const create = useCreateModel();
  const navigate = useNavigate();

  return (
    <div className="page page--narrow">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/models">Models</Link>
        <span aria-hidden="true"> / </span>
        <span aria-current="page">Create New Model</span>
      </nav>
      <PageHeading title="Create New Model">Create New Model</PageHeading>
      <StepIndicator current={1} />
      <section className="panel" aria-labelledby="basic-info-heading">
        <h2 id="basic-info-heading" className="panel__title">
          Basic information
        </h2>
        <ModelForm
          submitLabel="Create model"
          busyLabel="Creating model…"
          busy={create.isPending}
          onSubmit={async (input) => {
            const model = await create.mutateAsync(input);
            navigate(`/models/${model.id}`, { state: { created: true } });
          }}
          secondaryAction={
            <Link to="/models" className="button button--ghost">
              Cancel
            </Link>
          }
        />
      </section>
    </div>
  );
}
