import { useParams } from 'react-router';
import { isNotFound } from '../api/client.ts';
import { useSharedGeneration, type SharedGeneration } from '../api/generations.ts';
import { Logo } from '../components/Logo.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { ErrorState, LoadingState } from '../components/States.tsx';
import { formatDateTime } from '../lib/format.ts';

/**
 * The public page of a share link (`/s/:token`). Works signed out, so it has none of the app's
 * chrome and asks for no session; it shows only what the API hands out for the link.
 */
export function SharedGenerationPage() {
  const { token = '' } = useParams();
  const shared = useSharedGeneration(token);
  return (
    <div className="shared">
      <header className="shared__header">
        <a href="/" className="brand">
          <Logo size={28} />
          <span className="brand__name">The Way</span>
        </a>
      </header>
      <main id="main" className="shared__main" tabIndex={-1}>
        {shared.isPending ? (
          <LoadingState label="Loading the shared image…" />
        ) : shared.isError ? (
          isNotFound(shared.error) ? (
            <div className="shared__dead">
              <PageHeading title="Link not available">Link not available</PageHeading>
              <p data-testid="dead-link">This link was turned off or never existed.</p>
              <p className="muted">Ask the person who sent it for a new one.</p>
            </div>
          ) : (
            <ErrorState title="Couldn't load this link" message={shared.error.message} onRetry={() => void shared.refetch()} />
          )
        ) : (
          <Shared shared={shared.data} />
        )}
      </main>
      <footer className="shared__footer">
        Made with <a href="/">The Way</a>
      </footer>
    </div>
  );
}

function Shared({ shared }: { shared: SharedGeneration }) {
  const many = shared.images.length > 1;
  const title = many ? 'Shared images' : 'A shared image';
  return (
    <article className="shared__content">
      <PageHeading title={title}>{title}</PageHeading>
      <p className="muted">Made on {formatDateTime(shared.madeAt)}</p>
      {shared.prompt && (
        <figure className="shared__prompt">
          <figcaption className="muted small">Prompt</figcaption>
          <blockquote>{shared.prompt}</blockquote>
        </figure>
      )}
      <ul className="shared__images" aria-label={many ? 'Images' : 'Image'}>
        {shared.images.map((img, i) => (
          <li key={img.url} className="shared__image">
            <img src={img.url} alt={shared.prompt ?? `Shared image ${i + 1}`} width={img.width} height={img.height} />
            <a className="button button--secondary" href={img.downloadUrl} download>
              Download{many ? ` image ${i + 1}` : ' image'}
            </a>
          </li>
        ))}
      </ul>
    </article>
  );
}
