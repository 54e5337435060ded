import { Link } from 'react-router';
import { PageHeading } from '../components/PageHeading.tsx';

export function NotFoundPage({
  title = 'Page not found',
  message = 'There is nothing at this address. It may have moved, or the link may be mistyped.',
}: {
  title?: string;
  message?: string;
}) {
  return (
    <div className="page not-found">
      <p className="not-found__code" aria-hidden="true">
        404
      </p>
      <PageHeading title={title}>{title}</PageHeading>
      <p className="not-found__message">{message}</p>
      <Link to="/models" className="button button--primary">
        Go to your models
      </Link>
    </div>
  );
}
