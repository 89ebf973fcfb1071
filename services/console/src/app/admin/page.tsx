"use client";

import { useState } from "react";
import { RequireSignIn } from "@/components/RequireSignIn";
import { Aliases } from "./Aliases";
import { Keys } from "./Keys";
import { Projects } from "./Projects";

export default function AdminPage() {
  return (
    <RequireSignIn>
      {(credentials) =>
        credentials.adminToken ? (
          <Admin adminToken={credentials.adminToken} />
        ) : (
          <p className="muted">The admin page needs the admin token: sign out and sign in with it.</p>
        )
      }
    </RequireSignIn>
  );
}

function Admin({ adminToken }: { adminToken: string }) {
  const [selected, setSelected] = useState<string | null>(null);
  return (
    <>
      <h1>Admin</h1>
      <Projects adminToken={adminToken} selected={selected} onSelect={setSelected} />
      {selected && <Keys adminToken={adminToken} projectId={selected} />}
      <Aliases adminToken={adminToken} />
    </>
  );
}
