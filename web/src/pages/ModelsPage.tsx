import { useRef, type KeyboardEvent } from 'react';
import { Link, useLocation, useSearchParams } from 'react-router';
import { useModelList } from '../api/queries.ts';
import type { Model, ModelScope } from '../api/types.ts';
import { StatusBadge, VisibilityBadge } from '../components/Badges.tsx';
import { useLive } from '../live/LiveEvents.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { EmptyState, ErrorState, LoadingState } from '../components/States.tsx';
import { formatDate } from '../lib/format.ts';
import { modelTypeLabel } from '../lib/model-labels.ts';

const TABS: { scope: ModelScope; label: string }[] = [
  { scope: 'mine', label: 'Your models' },
  { scope: 'public', label: 'Public models' },
];

export function CreateModelLink({ className = 'button button--primary' }: { className?: string }) {
  return (
    <Link to="/models/new" className={className}>
      <span aria-hidden="true" className="button__icon">
        +
      </span>
      Create New Model
    </Link>
  );
}

export function ModelsPage() {
  const [params, setParams] = useSearchParams();
  const scope: ModelScope = params.get('tab') === 'public' ? 'public' : 'mine';
  const tabRefs = useRef<(HTMLButtonElement | null)[]>([]);
  const deletedModel = (useLocation().state as { deletedModel?: string } | null)?.deletedModel;

  const select = (s: ModelScope, focus = false) => {
    setParams(s === 'public' ? { tab: 'public' } : {}, { replace: true });
    if (focus) tabRefs.current[TABS.findIndex((t) => t.scope === s)]?.focus();
  };

  // WAI-ARIA tabs: arrow keys move between tabs, Home/End jump to the ends.
  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>, index: number) => {
    const last = TABS.length - 1;
    const target =
      e.key === 'ArrowRight' ? (index === last ? 0 : index + 1)
      : e.key === 'ArrowLeft' ? (index === 0 ? last : index - 1)
      : e.key === 'Home' ? 0
      : e.key === 'End' ? last
      : null;
    if (target === null) return;
    e.preventDefault();
    select(TABS[target]!.scope, true);
  };

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <PageHeading title="Models">Models</PageHeading>
          <p className="page-header__lead">Train custom image models on 15–20 of your images, then generate with them.</p>
        </div>
        <CreateModelLink />
      </div>

      {deletedModel && (
        <p className="alert alert--success" role="status">
          “{deletedModel}” was deleted.
        </p>
      )}

      <div role="tablist" aria-label="Which models" className="tabs">
        {TABS.map((t, i) => (
          <button
            key={t.scope}
            ref={(el) => {
              tabRefs.current[i] = el;
            }}
            type="button"
            role="tab"
            id={`tab-${t.scope}`}
            aria-selected={scope === t.scope}
            aria-controls={`panel-${t.scope}`}
            tabIndex={scope === t.scope ? 0 : -1}
            className="tabs__tab"
            onClick={() => select(t.scope)}
            onKeyDown={(e) => onTabKey(e, i)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <section role="tabpanel" id={`panel-${scope}`} aria-labelledby={`tab-${scope}`} className="tabs__panel" tabIndex={-1}>
        <ModelList key={scope} scope={scope} />
      </section>
    </div>
  );
}

function ModelList({ scope }: { scope: ModelScope }) {
  const list = useModelList(scope);

  if (list.isPending) return <LoadingState label={scope === 'mine' ? 'Loading your models…' : 'Loading public models…'} />;
  if (list.isError) return <ErrorState title="Couldn't load models" message={list.error.message} onRetry={() => void list.refetch()} />;

  const models = list.data.pages.flatMap((p) => p.models);
  if (models.length === 0) {
    return scope === 'mine' ? (
      <EmptyState title="You have no models yet" action={<CreateModelLink />}>
        <p>
          A model learns a person or character, a style, or an object from 15–20 clear, well-lit images. Start by giving
          it a name.
        </p>
      </EmptyState>
    ) : (
      <EmptyState title="No public models yet">
        <p>When someone on this server makes a model public, it shows up here.</p>
      </EmptyState>
    );
  }

  return (
    <>
      <ul className="model-grid" aria-label={scope === 'mine' ? 'Your models' : 'Public models'}>
        {models.map((m) => (
          <li key={m.id}>
            <ModelCard model={m} showOwner={scope === 'public'} />
          </li>
        ))}
      </ul>
      {list.hasNextPage && (
        <div className="load-more">
          <button
            type="button"
            className="button button--secondary"
            onClick={() => void list.fetchNextPage()}
            disabled={list.isFetchingNextPage}
          >
            {list.isFetchingNextPage ? 'Loading…' : 'Show more models'}
          </button>
        </div>
      )}
    </>
  );
}

function ModelCard({ model, showOwner }: { model: Model; showOwner: boolean }) {
  const live = useLive();
  return (
    <article className="model-card">
      <div className={`model-card__thumb model-card__thumb--${model.modelType}`} aria-hidden="true">
        <span>{model.name.trim().charAt(0).toUpperCase()}</span>
      </div>
      <div className="model-card__body">
        <h3 className="model-card__name">
          <Link to={`/models/${model.id}`} className="model-card__link">
            {model.name}
          </Link>
        </h3>
        <p className="model-card__type">{modelTypeLabel(model.modelType)}</p>
        {model.description && <p className="model-card__description">{model.description}</p>}
        <div className="model-card__badges">
          <VisibilityBadge visibility={model.visibility} />
          <StatusBadge status={model.status} percent={live.progressByModel[model.id]} imageCount={model.imageCount} />
        </div>
        <p className="model-card__meta">
          {showOwner && (
            <>
              By {model.isOwner ? 'you' : model.owner.displayName}
              <span aria-hidden="true"> · </span>
            </>
          )}
          Created <time dateTime={model.createdAt}>{formatDate(model.createdAt)}</time>
        </p>
      </div>
    </article>
  );
}
